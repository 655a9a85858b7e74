# Two commands do all set-up on a fresh machine (only Python and pip needed):
#   make lab    creates .venv, installs, starts JupyterLab on notebooks/ (embedded sandbox)
#               and prints the URL that opens the first tutorial; Ctrl-C stops it
#   make test   creates/updates .venv with the test extra and runs the whole suite
#   make demo NB=04   runs a tutorial headless and prints it in the terminal
# Quality gate (CI runs it before the suite): make check = ruff + mypy --strict + fast tests
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
LAB_PORT ?= 8888
# Jupyter refuses to run as root without being told (containers, CI machines).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=
BENCH_ARGS ?=
LAB_ARGS ?=
NB ?=

.PHONY: lab test check lint typecheck demo bench sandbox clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed-lab: pyproject.toml | $(PY)
	@echo "Installing reinfer_nb with JupyterLab into $(VENV) (first run: 1-2 minutes)..."
	$(PIP) install -q -e ".[lab]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -q -e ".[test]"
	touch $@ $(VENV)/.installed-lab

lab: $(VENV)/.installed-lab
	@$(PY) -m reinfer_nb.lab --port $(LAB_PORT) --notebook-dir notebooks $(LAB_ROOT) $(LAB_ARGS)

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

check: lint typecheck
	$(PY) -m pytest -m "not slow" -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(PY) -m ruff check reinfer_nb tests benchmarks notebooks

typecheck: $(VENV)/.installed-test
	$(PY) -m mypy

demo: $(VENV)/.installed-test
	@$(PY) -m reinfer_nb.demo $(NB)

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

sandbox: $(VENV)/.installed-lab
	$(PY) -m reinfer_nb.sandbox --host 127.0.0.1 --port 8000

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
