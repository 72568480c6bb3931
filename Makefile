# Developer entry points. From a fresh clone you need python3.11, node 20, npm and make:
#   make demo   start the local stack, run a scripted journey, print what happened in Dynamics
#   make test   lint, type-check and run every test against real Azurite and the emulator

PYTHON_BOOTSTRAP ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
# make run's ports: make run FUNCTIONS_PORT=8071 EMULATOR_PORT=8072 AZURITE_PORTS="20000 20001 20002"
FUNCTIONS_PORT ?= 7071
EMULATOR_PORT ?= 7072
AZURITE_PORTS ?= 10000 10001 10002

.DEFAULT_GOAL := help
PACKAGE_NAME ?= dynamics-connector

.PHONY: help venv node run demo test lint typecheck pytest bench package lock clean

help:
	@echo "make demo    start Azurite, the Dataverse emulator and the function host; run a scripted journey"
	@echo "make test    ruff, mypy and pytest (starts and stops its own Azurite and emulator)"
	@echo "make run     the local stack until Ctrl-C (functions :7071, emulator :7072; FUNCTIONS_PORT=... to change)"
	@echo "make bench   the benchmarks under bench/"
	@echo "make package dist/$(PACKAGE_NAME).zip, the run-from-package zip for Azure (docs/DEPLOY.md)"
	@echo "make lock    recompile requirements.lock (pins and hashes) after changing requirements.txt"
	@echo "make venv    create .venv and install requirements-dev.txt"
	@echo "make clean   remove .venv, node_modules, caches and local stack state"

venv: $(VENV_STAMP)

# Reinstalled only when a requirements file changes.
$(VENV_STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# devtools.run copies local.settings.example.json to local.settings.json the first time.
run: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m devtools.run --functions-port $(FUNCTIONS_PORT) --emulator-port $(EMULATOR_PORT) \
		--azurite-ports $(AZURITE_PORTS)

demo: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m devtools.demo

test: lint typecheck pytest

lint: $(VENV_STAMP)
	$(PY) -m ruff check .

typecheck: $(VENV_STAMP)
	$(PY) -m mypy shared devtools

# pytest exits 5 when it collected nothing: a suite that tests nothing must not look green.
pytest: $(VENV_STAMP) $(NODE_STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing on purpose" >&2; fi; \
	exit $$rc

# Every bench/<name>.py runs as `python -m bench.<name>`; `make bench BENCH=journey_steps` runs one.
BENCH ?= $(basename $(notdir $(filter-out bench/__init__.py bench/__main__.py,$(wildcard bench/*.py))))

bench: $(VENV_STAMP) $(NODE_STAMP)
	@if [ -f bench/__main__.py ]; then $(PY) -m bench; fi
	@if [ -z "$(strip $(BENCH))" ]; then echo "No benchmarks yet: see bench/README.md"; fi
	@set -e; for name in $(BENCH); do echo "== bench.$$name"; $(PY) -m bench.$$name; done

# The deployment zip: the app and the wheels of requirements.lock for Linux x86-64, CPython 3.11.
package: $(VENV_STAMP)
	$(PY) -m devtools.package --output dist/$(PACKAGE_NAME).zip

# Every runtime package, transitive ones included, pinned with the hashes of its files.
lock: $(VENV_STAMP)
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.txt

clean:
	rm -rf $(VENV) node_modules .stack .pytest_cache .mypy_cache .ruff_cache dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
