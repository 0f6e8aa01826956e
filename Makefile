# The newcomer's two commands: `make run` and `make test`. Both set themselves up (a .venv with the
# project installed) and are idempotent: the second run skips installation unless pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# processes the suite runs in (pytest-xdist; 0: in this process). 2 on the 2-core machines CI runs on.
TEST_WORKERS ?= 2

.PHONY: run test test-scale fuzz bench lock clean

run: $(VENV)/.installed-run
	@mkdir -p var
	$(BIN)/gateway serve $(if $(CONFIG),--config $(CONFIG))

test: $(VENV)/.installed-test
	@bash .ci/redis
	@bash .ci/postgres
	@bash .ci/nginx       # the load balancer of the scale-out test (tests/scale/)
	@bash .ci/browser     # Debian's chromium for the portal's browser tests (tests/gateway/portal)
	$(BIN)/ruff check .
	$(BIN)/lint-imports   # the layers and contracts of docs/architecture.md
	$(BIN)/mypy           # strict for core, settings, wire, resolver, passports, drs; the whole tree checked
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The scale-out scenario alone (also part of `make test`): two gateway processes on PostgreSQL + Redis behind nginx,
# two standalone commons, a replica killed under load, PostgreSQL restarted (tests/scale/test_scale_out.py).
test-scale: $(VENV)/.installed-test
	@bash .ci/redis
	@bash .ci/postgres
	@bash .ci/nginx
	$(BIN)/python -m pytest tests/scale $(PYTEST_ARGS)

# The API contract with a larger budget than `make test` (tests/test_contract.py): FUZZ_EXAMPLES per operation,
# seed FUZZ_SEED (change it to explore other inputs).
FUZZ_EXAMPLES ?= 100
FUZZ_SEED     ?= 14
fuzz: $(VENV)/.installed-test
	CONTRACT_EXAMPLES=$(FUZZ_EXAMPLES) CONTRACT_SEED=$(FUZZ_SEED) CONTRACT_BUDGET_S=3600 \
	  $(BIN)/python -m pytest tests/test_contract.py -k schemathesis $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/bench_refcommons.py
	$(BIN)/python bench/bench_resolver.py
	$(BIN)/python bench/bench_drs.py
	$(BIN)/python bench/bench_upstream.py
	$(BIN)/python bench/bench_passports.py
	$(BIN)/python bench/bench_fanout.py
	$(BIN)/python bench/bench_pfb.py
	$(BIN)/python bench/bench_portal.py
	$(BIN)/python bench/bench_memory.py    # idle RSS per worker (issue 17), growth after huge bodies (issue 14)
	$(BIN)/python bench/bench_workers.py   # --workers 2 vs 1 on cached paths (issue 17)

# `make lock`: requirements.lock, the container image's pinned runtime dependencies (the Dockerfile installs it,
# then the project with --no-deps). The project is installed from PyPI into a fresh venv and frozen without
# itself; the file's leading comment lines are kept. Run it after changing pyproject.toml's dependencies (a test
# checks the lock pins each of them) and commit the result. `make run`/`make test` install from pyproject.
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --disable-pip-version-check -q .
	{ sed -n '/^#/p' requirements.lock; \
	  $(LOCK_VENV)/bin/pip freeze --disable-pip-version-check --exclude-editable --exclude gateway; \
	} > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf $(LOCK_VENV) build

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) .venv-lock .venv-compliance .venv-interop var .pytest_cache .hypothesis

# ---------------------------------------------------------------------------------------------------------
# `make interop`: third-party DRS / Gen3 clients, unmodified from PyPI, against a live gateway federating two
# standalone reference commons, over HTTP and HTTPS (tests/interop/, docs/interop.md). Not part of `make test`.
# Each client gets its own venv under .venv-interop/<client>, built once with the workarounds of
# docs/interop.md (delete .venv-interop to rebuild them).

INTEROP         := .venv-interop
INTEROP_CLIENTS := drs-compliance-suite gen3 drsclient drs-cli ga4gh-drs-client
INTEROP_PIP      = $(@D)/bin/python -m pip install --disable-pip-version-check -q --retries 2
INTEROP_ARGS    ?=
# gen3 5.x requires Python >= 3.13 (on 3.11 pip resolves 4.28.x): use a 3.13+ interpreter when one runs.
# (`?=`: evaluated only when the gen3 venv is built.)
GEN3_PYTHON ?= $(firstword $(foreach p,python3.14 python3.13 $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.1[3-9]*/bin/python3),\
  $(shell $(p) -c 'import sys; assert sys.version_info >= (3, 13)' >/dev/null 2>&1 && echo $(p))) $(PYTHON))

.PHONY: interop interop-venvs

interop: $(VENV)/.installed-run interop-venvs
	$(BIN)/python tests/interop/run.py $(INTEROP_ARGS)

interop-venvs: $(foreach c,$(INTEROP_CLIENTS),$(INTEROP)/$(c)/.installed)

# the 1.0.3 wheel: Werkzeug 3 lacks url_quote, jsonschema is undeclared, supported_drs_versions is missing (shim)
$(INTEROP)/drs-compliance-suite/.installed:
	rm -rf $(@D) && $(PYTHON) -m venv $(@D)
	$(INTEROP_PIP) drs-compliance-suite==1.0.3 "werkzeug<2.3" jsonschema
	mkdir -p $(@D)/shim && echo 'SUPPORTED_DRS_VERSIONS = ["1.2.0"]' > $(@D)/shim/supported_drs_versions.py
	PYTHONPATH=$(@D)/shim $(@D)/bin/drs-compliance-suite --help >/dev/null
	@touch $@

$(INTEROP)/gen3/.installed:
	rm -rf $(@D) && $(GEN3_PYTHON) -m venv $(@D)
	$(INTEROP_PIP) "gen3>=4.28,<6"
	$(@D)/bin/gen3 --help >/dev/null
	@touch $@

# pulls the ancient `asyncio` backport from PyPI: harmless, the standard library's asyncio is found first
$(INTEROP)/drsclient/.installed:
	rm -rf $(@D) && $(PYTHON) -m venv $(@D)
	$(INTEROP_PIP) drsclient==0.3.2
	$(@D)/bin/python -c 'import drsclient.client'
	@touch $@

# declares no dependencies but imports pydantic and requests
$(INTEROP)/drs-cli/.installed:
	rm -rf $(@D) && $(PYTHON) -m venv $(@D)
	$(INTEROP_PIP) drs-cli==0.2.3 pydantic requests
	$(@D)/bin/python -c 'import drs_cli.client'
	@touch $@

# imports pkg_resources (setuptools < 81); its ga4gh/__init__.py clashes with ga4gh-testbed-lib: own venv
$(INTEROP)/ga4gh-drs-client/.installed:
	rm -rf $(@D) && $(PYTHON) -m venv $(@D)
	$(INTEROP_PIP) ga4gh-drs-client==0.1.7 "setuptools<81"
	$(@D)/bin/drs --help >/dev/null
	@touch $@
