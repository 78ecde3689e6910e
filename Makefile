# The two commands of the README: `make demo` runs the whole pipeline, `make test` runs the tests.
# Each creates the virtual environment and installs what is missing; both are quick when it is there.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: demo test bench lab lint setup system-deps clean

demo: setup
	$(BIN)/mlops-workshop demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/mlops-workshop benchmark

lab: setup
	$(BIN)/jupyter lab notebooks/

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) .state
