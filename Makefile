# vingrid: two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install -c constraints.txt

.PHONY: demo test test-slow lint type bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -q -e ".[test,bench,dev,plots,zoo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m train.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

type: $(STAMP)
	$(BIN)/mypy gridworld_env agents

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out build *.egg-info
