# The two commands a newcomer needs: `make run` and `make test`.
# Each prepares everything it needs (virtualenv, Python and npm packages).

SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: run test setup browser lint types pytest bench clean sandbox-up sandbox-down

run: setup
	$(BIN)/taskforce run

test: setup browser lint types pytest

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }
	$(BIN)/pip install --quiet --no-deps -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser end-to-end tests drive Debian's Chromium (playwright cannot download one here);
# the intake benchmark counts instructions with valgrind's callgrind.
browser:
	@{ command -v chromium >/dev/null && dpkg -s fonts-noto-core >/dev/null 2>&1 && command -v callgrind_control >/dev/null; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core valgrind >/dev/null; }

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types:
	$(BIN)/mypy wallet/

# Three workers on two cores: much of the suite waits on stand-ins, anvil and Dagster
# processes. Whole files per worker, so a module's chain node is started once.
pytest:
	$(BIN)/python -m pytest -n 3 --dist loadfile

bench: setup
	$(BIN)/python -m bench

sandbox-up: setup
	$(BIN)/taskforce sandbox up

sandbox-down: setup
	$(BIN)/taskforce sandbox down

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
