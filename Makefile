# Surplus: every target sets up what it needs on a fresh machine.
#   make demo   - the main job (a whole site on allotted power)
#   make test   - the whole test suite, with the real components it talks to

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.surplus-installed

.PHONY: demo test lint bench components venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@bash .ci/bootstrap-venv "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

components:
	@bash tests/components/install.sh

demo: $(STAMP)
	$(BIN)/surplus demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) components
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/surplus warm
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/hashing.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .mypy_cache
