# Two commands on a fresh machine: `make run` starts the service, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench install

$(BIN)/cds: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(BIN)/cds

install: $(BIN)/cds

run: install
	$(BIN)/cds serve

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check cds tests bench

bench: install
	$(BIN)/cds bench
