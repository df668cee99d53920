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

# `make run` opens on today's two-tier province (PLAN_FILE / UNITS_FILE in the environment win).
RUN_PLAN ?= content/plans/quang-ngai-2026.yaml
RUN_UNITS ?= content/units/quang-ngai-2026-start.yaml

run: $(BIN)/.installed
	PLAN_FILE="$${PLAN_FILE:-$(RUN_PLAN)}" UNITS_FILE="$${UNITS_FILE:-$(RUN_UNITS)}" $(BIN)/python -m bot run

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
