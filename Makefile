# The newcomer's two commands: `make run` and `make test`. Both set themselves up (a .venv with the
# project installed) and are idempotent: the second run skips installation unless pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test bench clean

run: $(VENV)/.installed-run
	@mkdir -p var
	$(BIN)/gateway serve $(if $(CONFIG),--config $(CONFIG))

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/bench_refcommons.py
	$(BIN)/python bench/bench_resolver.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

clean:
	rm -rf $(VENV) .venv-compliance var .pytest_cache .hypothesis
