# The two commands of the README: `make demo` runs the whole pipeline, `make test` runs the tests (nbval on the
# committed notebooks included, in tests/notebooks). Each creates the virtual environment and installs what is
# missing; both are quick when it is there. `make notebooks` runs the notebooks and writes their outputs back into
# notebooks/ to commit; `make nbval` checks the committed outputs against a new run.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# A worker per core and one more, since many tests wait on servers, schedules and jobs (measured: 855 s with 2
# workers on 2 cores, 697 s with 3); tests/conftest.py keeps the ones that share a set-up together.
WORKERS = $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')
PYTEST_ARGS ?= -n $(WORKERS) --dist loadgroup
# checkov pins an older boto3 than this project's, so the template security scan gets an environment of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_SPEC := checkov==3.3.30
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell echo '$(CHECKOV_SPEC)' | sha1sum | cut -c1-12)

.PHONY: demo test bench lab notebooks nbval moto-floor setup checkov system-deps clean

demo: setup
	$(BIN)/mlops-workshop demo

test: setup checkov
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/mlops-workshop benchmark

lab: setup
	$(BIN)/jupyter lab notebooks/

notebooks: setup
	$(BIN)/python scripts/notebooks.py run

nbval: setup
	$(BIN)/python scripts/notebooks.py check

# moto's own tests against a plain moto server and the local cloud (scripts/moto_floor.py --help).
moto-floor: setup
	$(BIN)/python scripts/moto_floor.py

setup: $(STAMP) system-deps
	@$(BIN)/python -m mlops_workshop.localcloud.pythons || echo "the Lambda and Glue runtimes will be set up on their first run"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e .
	@rm -f $(VENV)/.installed-* && touch $@

checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): $(STAMP)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(BIN)/uv pip install -q --python $(CHECKOV_VENV)/bin/python '$(CHECKOV_SPEC)' \
	  && rm -f $(CHECKOV_VENV)/.installed-* && touch $@ \
	  || echo "checkov could not be installed: the template security scan will skip, saying so"

system-deps:
	@scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .state
