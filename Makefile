# vingrid: two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install -c constraints.txt

.PHONY: demo test test-slow lint format format-check type docs docs-check bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -q -e ".[test,bench,dev,plots,zoo,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m train.demo

# The README's test command: lint, format check, type check, the docs build, then the tests.
test: lint format-check type docs-check
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

# The documentation site (MkDocs + Material + mkdocstrings) into site/.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The same build into a throw-away folder: a broken link, a missing page or a warning fails.
docs-check: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $$(mktemp -d)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out build site *.egg-info
