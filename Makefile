# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt scripts/setup.sh 2>/dev/null | cksum | cut -d' ' -f1)
export RECEIPTS_HOME ?= $(CURDIR)/.receipts

.PHONY: setup demo test lint typecheck contracts unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: setup
	$(BIN)/receipts demo

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q

test: lint typecheck contracts unit

bench: setup
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .receipts
