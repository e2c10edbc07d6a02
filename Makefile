# The README's two commands: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt scripts/setup.sh 2>/dev/null | cksum | cut -d' ' -f1)
export RECEIPTS_HOME ?= $(CURDIR)/.receipts

.PHONY: setup demo check test lint typecheck contracts fast-tests all-tests bench clean

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

# The fast loop, after every change (about a minute): no moto, torch, console scripts or browser.
fast-tests: setup
	$(BIN)/pytest -q -n 2 -m "not (aws or ml or e2e or browser)" tests/unit tests/integration tests/contracts

# Every tier, in parallel: what CI runs (.ci/run).
all-tests: setup
	$(BIN)/pytest -q -n auto --dist loadscope --durations=25

check: lint typecheck contracts fast-tests

test: lint typecheck contracts all-tests

bench: setup
	$(BIN)/python bench/lifecycle.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .receipts
