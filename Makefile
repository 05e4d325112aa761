# Two entry points for a fresh machine (see README.md):
#   make demo   install the runtime dependencies, start the controller in a
#               temporary $HOME, submit the example jobs, wait, show gqstat
#   make test   install the test dependencies and run the whole test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: demo test deps test-deps lint bench

deps:
	$(PIP) install --quiet filelock python-dateutil sh

test-deps:
	$(PIP) install --quiet -r requirements-dev.txt

demo: deps
	PYTHON=$(PYTHON) bash share/doc/demo.sh

lint: test-deps
	$(PYTHON) -m ruff check $(wildcard lib bin tests bench)

test: test-deps lint
	$(PYTHON) -m pytest -q

bench: test-deps
	$(PYTHON) bench/run.py
