# The README's commands. Every target installs what it needs first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test bench mutants lint format clean

install: $(VENV)/.installed

# Re-installs only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

serve: install
	$(BIN)/omnitron migrate --noinput
	$(BIN)/omnitron collectstatic --noinput --verbosity 0
	$(BIN)/omnitron ensure_admin --url $(if $(OMNITRON_CERTFILE),https,http)://$(HOST):$(PORT)
	$(BIN)/omnitron serve --host $(HOST) --port $(PORT) --with-worker

test: install
	$(BIN)/pytest

# Needs PostgreSQL and Node 20 (see bench/README.md); installs wrk and pgbench from Debian's packages when missing,
# the chart's Python dependencies (the "bench" extra), and Platformatic DB from npm under var/bench/.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	command -v pgbench >/dev/null || (apt-get update -qq && apt-get install -y -qq postgresql-client)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Mutation testing of apicore (mutmut, about an hour on 2 cores); `.venv/bin/mutmut results` lists the survivors.
mutants: install
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	$(BIN)/mutmut run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache
