"""The sample tenant's vocabulary: permissions, projects, sources, datasets, the label
taxonomy with email templates per label, the names and values comments are made of, and
the shape of the sample year (daily and weekly rhythm, seasons, incidents, label drift)."""

from __future__ import annotations

from typing import NamedTuple


class Incident(NamedTuple):
    """A burst of one label: from ``start`` (a UTC date) for ``days`` days, every source
    receives ``multiplier`` times its usual volume, the extra emails all about ``label``."""

    name: str
    label: str
    start: str
    days: int
    multiplier: float
    subjects: tuple[str, ...]
    bodies: tuple[str, ...]


# fmt: off
PROJECT_PERMISSIONS = (
    "sources-add-comments", "datasets-admin", "voc", "datasets-review", "voc-readonly",
    "datasets-model-admin", "datasets-export", "dashboards-write", "sources-admin",
    "sources-translate", "sources-read", "sources-read-sensitive", "triggers-admin",
    "triggers-consume", "triggers-read", "triggers-write", "users-read", "users-write",
    "buckets-read", "buckets-write", "buckets-items-read", "buckets-append", "files-write",
    "appliance-config-write", "appliance-config-read", "integrations-write",
    "integrations-read", "alerts-read", "alerts-write", "role-cm-project-admin",
    "role-cm-model-trainer", "role-cm-developer", "role-cm-viewer", "role-cm-analyst",
)
DEV_PERMISSIONS = (
    "sources-admin", "sources-read", "sources-add-comments", "sources-read-sensitive",
    "datasets-admin", "datasets-review", "datasets-export", "voc", "voc-readonly",
    "triggers-admin", "triggers-consume", "triggers-read", "triggers-write",
    "role-cm-developer",
)
READ_PERMISSIONS = ("sources-read", "voc-readonly", "triggers-read", "triggers-consume")

PROJECTS = (
    ("dev", "Development", "Where developers build and test integrations on sample data."),
    ("prod", "Production", "Live customer email. Read-only for developers."),
    ("restricted", "Restricted", "Executive escalations. Visible to administrators only."),
)

# (owner, name, title, description, mailbox, share of all comments, favoured labels)
SOURCES = (
    ("dev", "support-emails", "Support mailbox (copy)",
     "A development copy of the customer support mailbox.", "support@acme-retail.example",
     0.30, ("Account > Password Reset", "Product > Question", "Delivery > Tracking Request")),
    ("dev", "returns-emails", "Returns mailbox (copy)",
     "A development copy of the returns and refunds mailbox.", "returns@acme-retail.example",
     0.15, ("Billing > Refund", "Delivery > Damaged Item", "Product > Complaint")),
    ("prod", "support-emails", "Support mailbox",
     "Customer emails sent to the support mailbox.", "support@acme-retail.example",
     0.30, ("Delivery > Tracking Request", "Account > Password Reset",
            "Billing > Invoice Request")),
    ("prod", "returns-emails", "Returns mailbox",
     "Customer emails sent to the returns and refunds mailbox.", "returns@acme-retail.example",
     0.20, ("Billing > Refund", "Delivery > Late Delivery", "Delivery > Damaged Item")),
    ("restricted", "escalations", "Executive escalations",
     "Complaints escalated to the executive office.", "ceo-office@acme-retail.example",
     0.05, ("Product > Complaint", "Billing > Payment Failed", "Account > Close Account")),
)

# (owner, name, title, description, source names)
DATASETS = (
    ("dev", "support-triage", "Support triage (dev)",
     "Labels for routing support and returns emails: the development model.",
     ("support-emails", "returns-emails")),
    ("prod", "support-triage", "Support triage",
     "Labels for routing support and returns emails.", ("support-emails", "returns-emails")),
    ("restricted", "escalations-review", "Escalations review",
     "Labels for escalated complaints.", ("escalations",)),
)
STREAM_NAME, STREAM_TITLE = "triage-queue", "Triage queue"

# Leaf label -> (subjects, body sentences). Templates use {order}, {amount} and {product}.
LABEL_TEXT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Billing > Refund": (
        ("Refund request for order {order}", "Where is my refund?", "Refund not received"),
        ("I returned order {order} two weeks ago and I still have not had my refund of {amount}.",
         "Could you please refund {amount} for order {order}? The item was not what I ordered.",
         "I was told my refund of {amount} would arrive within 5 days but nothing has come.")),
    "Billing > Invoice Request": (
        ("Invoice for order {order}", "Request for a VAT invoice", "Copy of invoice please"),
        ("Please send me a VAT invoice for order {order} so that I can claim it as an expense.",
         "Could you email me a copy of the invoice for my purchase of {amount}?",
         "Our finance team needs an invoice for order {order} addressed to our company.")),
    "Billing > Payment Failed": (
        ("Payment failed", "Card declined at checkout", "Problem paying for order {order}"),
        ("My card was declined when I tried to pay {amount}, but my bank says nothing is wrong.",
         "The payment page shows an error every time I try to complete order {order}.",
         "I was charged {amount} twice for order {order} and it still says payment failed.")),
    "Account > Password Reset": (
        ("Cannot log in", "Password reset link not working", "Locked out of my account"),
        ("The password reset link you sent me has expired and I cannot log in.",
         "I have been locked out of my account after too many attempts. Please help.",
         "I never receive the password reset email, even in my spam folder.")),
    "Account > Close Account": (
        ("Please close my account", "Delete my data", "Cancel my membership"),
        ("Please close my account and delete all of my personal data.",
         "I would like to cancel my membership with immediate effect.",
         "I no longer want an account with you. How do I close it?")),
    "Account > Update Details": (
        ("Change of address", "Update my email address", "New phone number"),
        ("I have moved house, please update my delivery address before order {order} ships.",
         "Please change the email address on my account to this one.",
         "My phone number has changed and I cannot update it on the website.")),
    "Delivery > Late Delivery": (
        ("Order {order} has not arrived", "Delivery is late", "Still waiting for my parcel"),
        ("Order {order} was due three days ago and it has still not arrived.",
         "The {product} I ordered was promised for yesterday. Where is it?",
         "I paid {amount} for next-day delivery and I have been waiting for a week.")),
    "Delivery > Damaged Item": (
        ("Item arrived damaged", "Broken {product} in order {order}", "Damaged parcel"),
        ("The {product} in order {order} arrived with a cracked case.",
         "The box was crushed and the {product} inside does not work.",
         "Half of order {order} arrived broken. I attach a photo.")),
    "Delivery > Tracking Request": (
        ("Tracking number for order {order}", "Where is my order?", "Delivery status"),
        ("Could you send me the tracking number for order {order}?",
         "The tracking page for order {order} has not updated for four days.",
         "When will my {product} be delivered?")),
    "Product > Question": (
        ("Question about the {product}", "Is the {product} compatible?", "Product information"),
        ("Does the {product} come with a UK plug?",
         "Is the {product} covered by a two-year warranty?",
         "What is the difference between the two {product} models on your website?")),
    "Product > Complaint": (
        ("Disappointed with the {product}", "Complaint about product quality",
         "{product} stopped working"),
        ("The {product} stopped working after two weeks. This is not acceptable for {amount}.",
         "The quality of the {product} is far below what your website describes.",
         "This is the second {product} that has failed on me.")),
    "Feedback": (
        ("Thank you!", "Great service", "Feedback on my recent order"),
        ("Just wanted to say thank you, the {product} is excellent.",
         "Your colleague on the phone was very helpful with order {order}.",
         "Delivery was quick and the packaging was recyclable. Well done.")),
    "Other": (
        ("Hello", "Quick question", "Enquiry"),
        ("Do you have a shop in Manchester?",
         "Are you open on bank holidays?",
         "I would like to talk to someone about a business partnership.")),
}
PARENT_LABELS = ("Billing", "Account", "Delivery", "Product")
URGENT = "Urgent"
LABEL_NAMES = tuple(sorted((*PARENT_LABELS, *LABEL_TEXT, URGENT)))
LABEL_INSTRUCTIONS = {
    "Billing": "Payments, refunds and invoices.",
    "Account": "Log-in problems and changes to a customer's account.",
    "Delivery": "Where an order is, and what arrived.",
    "Product": "Questions and complaints about what we sell.",
    "Urgent": "The customer needs an answer today.",
    "Other": "Nothing else applies.",
}
ENTITY_DEFS = (("order_number", "Order Number", 0x2E86DE),
               ("monetary_quantity", "Monetary Quantity", 0x27AE60))

FIRST = ("Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Leo",
         "Grace", "Oscar", "Freya", "Harry", "Lily", "Jack", "Sophia", "Charlie", "Ella",
         "Thomas", "Priya", "Mohammed", "Chen", "Fatima", "Lucas", "Zara", "Daniel", "Maya")
LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
        "Patel", "Wright", "Khan", "Evans", "Thomas", "Roberts", "Walker", "Green", "Hall",
        "Wood", "Clarke", "Hughes", "Lewis", "Young", "Martin", "Nguyen")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "post.example.org")
PRODUCTS = ("kettle", "toaster", "blender", "coffee machine", "vacuum cleaner", "air fryer",
            "desk lamp", "headphones")
GREETINGS = ("Hello,", "Hi there,", "Dear Sir or Madam,", "Good morning,", "Hi,")
CLOSINGS = ("Thanks,", "Kind regards,", "Many thanks,", "Best wishes,", "Regards,")
FOLLOW_UPS = ("Please get back to me as soon as possible.", "I look forward to hearing from you.",
              "This is the second time I have written about this.", "", "")
PRIORITIES = ("Low", "Low", "Medium", "Medium", "Medium", "High", "High", "Urgent")
TIERS = ("Bronze", "Bronze", "Bronze", "Silver", "Silver", "Gold", "Platinum")
REGIONS = ("UK", "UK", "UK", "EU", "EU", "US", "APAC")
CHANNELS = ("Email", "Email", "Email", "Email", "Web form")
ATTACHMENTS = (("photo.jpg", "image/jpeg"), ("receipt.pdf", "application/pdf"),
               ("screenshot.png", "image/png"))

ENTITY_SLOTS = (("order", "order_number"), ("amount", "monetary_quantity"))  # template slot, kind

# A second label that plausibly comes with the first (one is drawn for ~12% of emails).
SECONDARY: dict[str, tuple[str, ...]] = {
    "Billing > Refund": ("Delivery > Damaged Item", "Product > Complaint"),
    "Billing > Invoice Request": ("Account > Update Details", "Billing > Refund"),
    "Billing > Payment Failed": ("Billing > Refund", "Account > Update Details"),
    "Account > Password Reset": ("Account > Update Details",),
    "Account > Close Account": ("Billing > Refund", "Product > Complaint"),
    "Account > Update Details": ("Delivery > Tracking Request",),
    "Delivery > Late Delivery": ("Billing > Refund", "Delivery > Tracking Request"),
    "Delivery > Damaged Item": ("Billing > Refund", "Product > Complaint"),
    "Delivery > Tracking Request": ("Delivery > Late Delivery", "Account > Update Details"),
    "Product > Question": ("Delivery > Tracking Request",),
    "Product > Complaint": ("Billing > Refund", "Delivery > Damaged Item"),
    "Feedback": ("Product > Question",),
    "Other": (),
}
CONNECTORS = ("Also, ", "On another matter, ", "While I am writing: ", "And one more thing: ")
# NPS given with each leading label: (lowest, highest), inclusive.
NPS_RANGE = {"Feedback": (8, 10), "Product > Complaint": (0, 4), "Delivery > Damaged Item": (0, 5),
             "Delivery > Late Delivery": (0, 6), "Billing > Payment Failed": (1, 6),
             "Billing > Refund": (1, 7), "Account > Close Account": (0, 5)}
NPS_DEFAULT = (4, 9)

# Replies in threads of several messages: the mailbox answers, the customer chases.
AGENT_REPLIES = (
    "Thank you for contacting Acme Retail. We are looking into this and will reply within "
    "two working days.",
    "Thanks for your email about order {order}. A colleague is checking it and will be in "
    "touch shortly.",
    "We are sorry for the trouble. Could you confirm the order number and the email address "
    "you used?",
)
CHASERS = (
    "I am still waiting for an answer about order {order}.",
    "The order number is {order}. Please sort this out quickly.",
    "It has been several days now. Can someone please reply?",
    "Thanks, but nothing has changed since my last email.",
)

# The sample year, 2024. Hourly weights by local (Europe/London) hour, Monday to Friday and
# at weekends; Sunday is quieter than Saturday.
WEEKDAY_HOURS = (6, 4, 3, 3, 3, 5, 10, 25, 60, 95, 100, 95, 85, 80, 90, 90, 80, 60, 40, 32,
                 28, 22, 15, 10)
WEEKEND_HOURS = (8, 5, 4, 3, 3, 4, 6, 10, 18, 26, 32, 34, 32, 30, 28, 26, 24, 22, 20, 18,
                 16, 14, 12, 9)
SUNDAY_PERMILLE = 800
# Volume per mille on the 15th of each month (linear between): returns after Christmas in
# January, a quiet summer, the run-up to Christmas in November and December.
MONTHLY_PERMILLE = (1250, 1000, 950, 950, 900, 880, 850, 800, 920, 1000, 1250, 1350)
# Days that differ from their season, per mille: bank holidays, Black Friday, Christmas.
SPECIAL_DAYS = {"2024-01-01": 400, "2024-03-29": 500, "2024-04-01": 500, "2024-05-06": 600,
                "2024-05-27": 600, "2024-08-26": 600, "2024-11-29": 1700, "2024-12-02": 1300,
                "2024-12-24": 500, "2024-12-25": 200, "2024-12-26": 500}
# Labels whose share drifts over the year: weight per mille on 1 January and 31 December.
# Tracking requests rise after a switch to a courier that sends no tracking emails; product
# questions fall once a new FAQ page answers them.
LABEL_DRIFT = {"Delivery > Tracking Request": (600, 1800), "Product > Question": (1600, 500)}
# Share of comments a person reviewed, per mille on 1 January and 31 December: reviewers
# label a lot while the model is trained, then less.
REVIEWED_PERMILLE = (320, 120)

INCIDENTS = (
    Incident("Checkout outage", "Billing > Payment Failed", "2024-03-12", 3, 4.0,
             ("Checkout keeps failing", "Payment error on your website",
              "Cannot pay for order {order}"),
             ("Your checkout has failed all day with 'payment could not be processed', but my "
              "bank says the card is fine.",
              "I have tried to pay {amount} for order {order} five times today and every "
              "attempt fails.",
              "Is your payment system down? Every card I try is declined at checkout.")),
    Incident("Password reset emails not sent", "Account > Password Reset", "2024-06-04", 2, 5.0,
             ("Password reset email never arrives", "Still cannot log in",
              "Reset link not received"),
             ("I asked for a password reset three times today and no email has arrived.",
              "Since this morning I cannot log in and the reset link never comes.",
              "Your app logged me out and the password reset email is not being sent.")),
    Incident("Double charges", "Billing > Refund", "2024-09-17", 4, 3.0,
             ("Charged twice for order {order}", "Duplicate payment taken",
              "Refund the double charge please"),
             ("I have been charged twice for order {order}. Please refund the duplicate "
              "payment of {amount}.",
              "My bank statement shows {amount} taken twice for the same order.",
              "You took payment for order {order} two times. I want the second charge "
              "refunded today.")),
    Incident("Courier delays before Christmas", "Delivery > Late Delivery", "2024-12-16", 5, 2.5,
             ("Christmas order {order} delayed", "Courier has not collected my parcel",
              "Will my order arrive before Christmas?"),
             ("Order {order} was meant to arrive before Christmas and the courier has not even "
              "collected it.",
              "Your courier says my {product} is delayed by a week. It is a Christmas present!",
              "The tracking for order {order} has said 'delayed at depot' for five days.")),
)
# fmt: on
