# Two entry points for a fresh machine (see README.md):
#   make demo   install the runtime dependencies, start the controller in a
#               temporary $HOME, submit the example jobs, follow one with
#               gqpeek, run a user service by trigger, gqwait, show gqstat
#   make test   install the test dependencies and run the whole test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

# Tools the man page and zsh completion tests use, installed from the
# distribution when missing (apt-get update only when an install fails).
SYSTEM_TEST_TOOLS = mandoc zsh

.PHONY: demo test deps test-deps lint bench test-installed

deps:
	$(PIP) install --quiet cryptography python-dateutil sh sysv_ipc

test-deps:
	$(PIP) install --quiet -r requirements-dev.txt
	@missing=; for t in $(SYSTEM_TEST_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing$$missing"; \
		apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; }; \
	else \
		echo "note: install$$missing to run every man page and completion check"; \
	fi

demo: deps
	PYTHON=$(PYTHON) bash share/doc/demo.sh

lint: test-deps
	$(PYTHON) -m ruff check $(wildcard lib bin tests bench)

test: test-deps lint
	$(PYTHON) -m pytest -q

# The wheel installed into a fresh venv, e2e and bats suites against it (CI).
test-installed: test-deps
	PYTHON=$(PYTHON) bash .ci/installed

bench: test-deps
	$(PYTHON) bench/run.py
