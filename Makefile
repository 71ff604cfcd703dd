# Passerelle — the two newcomer commands are `make demo` and `make test`; both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/passerelle demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/initial_sync.py --persons 20000
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/amilia_events.py

clean:
	rm -rf .passerelle .pytest_cache .ruff_cache

.PHONY: up down
up: $(STAMP)
	$(BIN)/passerelle up

down:
	@test -x $(BIN)/passerelle && $(BIN)/passerelle down || true
