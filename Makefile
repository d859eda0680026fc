# Souk: the two commands are `make run` and `make test`; everything else here is what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# tests spend most of their time waiting (servers, databases, subprocesses): more workers than cores overlap it
TEST_WORKERS ?= 4

.PHONY: run cluster test audit lint fmt clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-cluster: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cluster]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run $(VENV)/.installed-cluster

## run: serve the API and the inbox on 127.0.0.1:8000 with SQLite, NATS and Temporal (Ctrl-C stops all);
##      `make run DEMO=1` also plays simulated customers on WhatsApp, WAHA, Messenger, Instagram, Telegram,
##      TikTok and Chotot
run: $(VENV)/.installed-run
	$(BIN)/souk run $(if $(DEMO),--demo,)

## cluster: the production shape on this machine: PostgreSQL, a 3-node NATS JetStream cluster, Temporal, 2 API and
##          2 worker processes on free ports, data and logs in .souk-cluster/ (Ctrl-C stops everything)
cluster: $(VENV)/.installed-cluster
	$(BIN)/souk cluster $(if $(DATA_DIR),--data-dir $(DATA_DIR),)

## test: the dependency audit, then the whole suite, on SQLite and on PostgreSQL
test: $(VENV)/.installed-test chromium audit
	$(BIN)/ruff check src tests bench tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=25 $(PYTEST_ARGS)

## audit: pip-audit over the installed environment (Souk itself skipped); a known vulnerability fails. Without
##        access to the vulnerability service it prints a WARNING and passes (SOUK_AUDIT_REQUIRED=1: it fails)
audit: $(VENV)/.installed-test
	$(BIN)/python tools/audit_deps.py

## chromium: Debian's Chromium for the browser tests (installed when missing and running as root)
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || { echo "could not install chromium; browser tests will fail"; exit 1; }; \
	  else echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium)"; exit 1; fi; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

fmt: $(VENV)/.installed-test
	$(BIN)/ruff check --fix src tests bench tools
	$(BIN)/ruff format src tests bench tools

clean:
	rm -rf $(VENV) .souk .souk-cluster .pytest_cache
