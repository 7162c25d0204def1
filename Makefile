# Set-up and the two commands README.md opens with. Needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo
SIZE   ?= small
PYTEST_ARGS ?=

.PHONY: install demo test clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dask]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	FACIES=$(BIN)/facies bash scripts/demo.sh $(DEMO) $(SIZE)

test: install
	$(BIN)/ruff check .
	bash scripts/typecheck.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
