# vingrid: two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install -c constraints.txt

.PHONY: demo test test-slow lint format format-check type bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -q -e ".[test,bench,dev,plots,zoo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m train.demo

# The README's test command: lint, format check, type check, then the tests.
test: lint format-check type
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

format-check: $(STAMP)
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

type: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out build *.egg-info
