"""Handlers for a comment's files: its audio, and the contents of its attachments.

Uploads come as the spec says (audio as ``application/octet-stream``) or as the official
``re`` client sends them (``multipart/form-data`` with the file in a part named ``file``).
An attachment upload fills in ``content_hash`` and ``attachment_reference`` of the
comment's attachment at that index; ``GET /api/v1/attachments/{reference}`` serves it back.
Files count against the request body cap and a total the sandbox keeps in memory.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ..data.store import MediaFull, SourceState
from .access import Answer, Blob, Call
from .resources import by_id
from .validate import Refusal, invalid

__all__ = ["get_attachment", "get_audio", "set_audio", "upload_attachment"]



def set_audio(call: Call, raw_source_id: str, raw_comment_id: str) -> Answer:
    source = _comment_source(call, raw_source_id, raw_comment_id, "sources-add-comments")
    data = _file(call)
    with call.store.lock:
        _stored(lambda: call.store.set_audio(source, raw_comment_id, data))
    return {}


def get_audio(call: Call, source_id: str, comment_id: str) -> Blob:
    source = _comment_source(call, source_id, comment_id, "sources-read")
    media = source.media.get(comment_id)
    if media is None or media.audio is None:
        raise Refusal(
            404,
            f"Comment '{comment_id}' has no audio; upload it with PUT "
            f"/api/_private/sources/id:{source_id}/comments/{comment_id}/audio.",
        )
    return Blob("audio/x-wav", media.audio)


def upload_attachment(
    call: Call, source_id: str, comment_id: str, attachment_index: str
) -> Answer:
    source = _comment_source(call, source_id, comment_id, "sources-add-comments")
    data = _file(call)
    with call.store.lock:
        comment = call.store.comment(source, comment_id)
        assert comment is not None
        count = len(comment["attachments"])
        if not attachment_index.isdigit() or int(attachment_index) >= count:
            raise invalid(
                "attachment_index",
                f"{attachment_index!r} is not an attachment of comment '{comment_id}' "
                f"(it has {count}; indexes start at 0)",
            )
        content_hash = _stored(
            lambda: call.store.set_attachment(source, comment_id, int(attachment_index), data)
        )
    return {"content_hash": content_hash}


def get_attachment(call: Call, attachment_reference: str) -> Blob:
    with call.store.lock:
        found = call.store.attachment(attachment_reference)
    if found is None:
        raise Refusal(404, f"Attachment '{attachment_reference}' not found.")
    source, data = found
    call.require(source.meta["owner"], "sources-read")
    return Blob("application/octet-stream", data)


def _comment_source(call: Call, source_id: str, comment_id: str, permission: str) -> SourceState:
    source: SourceState = by_id(call, call.store.sources, source_id, permission, "source")
    with call.store.lock:
        if call.store.ref(source, comment_id) is None:
            raise Refusal(
                404, f"Comment '{comment_id}' not found in source '{source.meta['name']}'."
            )
    return source


def _file(call: Call) -> bytes:
    """The uploaded bytes: the body, or the ``file`` part of a multipart form."""
    content_type = call.content_type or ""
    data = call.raw
    if content_type.lower().startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + data
        )
        parts = [
            part
            for part in (message.iter_parts() if message.is_multipart() else ())
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if not parts:
            raise Refusal(
                400, "Invalid request: the multipart form has no part named 'file'; send the "
                "file as the 'file' field (or the raw bytes as application/octet-stream)."
            )
        payload = parts[0].get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    if not data:
        raise invalid("the file", "is empty; send its bytes")
    return data


def _stored(write: Any) -> Any:
    try:
        return write()
    except MediaFull as exc:
        raise Refusal(413, f"Payload Too Large: {exc}; delete comments to free space.") from None
