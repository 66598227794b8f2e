# RankForge: `make up` runs the product, `make test` passes the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Models come from installed packages or local directories, never from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: up test install install-dev browser lint bench-quick clean

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Debian's Chromium drives the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium chromium-driver"; fi; }

up: install
	@bash docker/run-local.sh $(HOST) $(PORT)

test: install-dev browser
	$(PY) -m pytest -q
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo "--- the same model, service and API tests on the embedded SQLite default ---"; \
	  env -u DATABASE_URL -u REDIS_URL VAR_DIR=$$(mktemp -d) $(PY) -m pytest -q -m "not browser and not postgres and not redis and not slow" tests/annotate tests/rewardtrain; \
	fi

# Every benchmark in a quick mode from a fresh clone, each one's headline figure at the end.
bench-quick: install-dev
	$(PY) bench/quick.py

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var staticfiles .pytest_cache
