# One command for each job. Every target builds .venv from nothing when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m bot run

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy bot core handlers db bench tests

check: lint test

bench: $(BIN)/.installed
	$(BIN)/python -m bench report
	$(BIN)/python -m bench ask
	$(BIN)/python -m bench stats

clean:
	rm -rf $(VENV) data/*.db
