# CaseApp: `make run` starts a local installation, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint format bench translations clean-venv

$(BIN)/caseapp: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(BIN)/caseapp

$(VENV)/.dev-installed: pyproject.toml $(BIN)/caseapp
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $@

## run: create the virtualenv, initialise instance/, load demo accounts once, serve on HOST:PORT
run: $(BIN)/caseapp
	$(BIN)/caseapp init
	$(BIN)/caseapp demo --if-empty
	CASEAPP_LOCAL_HTTP=1 $(BIN)/caseapp serve --host $(HOST) --port $(PORT)

## test: install the dev extra and run the whole suite (SQLite; PostgreSQL with CASEAPP_TEST_DATABASE_URL)
test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## translations: extract the strings and update the English catalog, then compile it
translations: $(VENV)/.dev-installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o caseapp/translations/messages.pot .
	$(BIN)/pybabel update -i caseapp/translations/messages.pot -d caseapp/translations -l en --no-fuzzy-matching
	$(BIN)/pybabel compile -d caseapp/translations

## bench: time the pages on 50,000 generated youth (BENCH_ARGS="--cases 250000" with CASEAPP_BENCH_DATABASE_URL for PostgreSQL)
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
