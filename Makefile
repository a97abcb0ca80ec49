# Heritage Cloud developer tasks. `make` alone lists them.
.PHONY: help install demo test lint bench
.DEFAULT_GOAL := help

VENV := .venv
# Extra arguments for the test runs, e.g. make test ARGS="-k accounts -x"
ARGS ?=

help:
	@echo "Heritage Cloud make targets:"
	@echo "  install  install system packages (as root), the virtualenv and front-end assets"
	@echo "  demo     install, then run the demo server on http://127.0.0.1:8000"
	@echo "  test     install, then lint and run the tests on SQLite and on PostgreSQL"
	@echo "  lint     ruff check and ruff format --check"
	@echo "  bench    install, then run the benchmarks in bench/"

install:
	bash scripts/install.sh

demo: install
	$(VENV)/bin/heritage demo --host 127.0.0.1 --port 8000

test: install
	bash scripts/test.sh $(ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	@if [ -f bench/__main__.py ]; then $(VENV)/bin/python -m bench; \
	else echo "no benchmarks yet"; fi
