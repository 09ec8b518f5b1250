# The two commands: `make run` serves the demo clinic, `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install translations i18n-extract i18n-update run test test-quick lint audit bench screens clean

install: $(STAMP) translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The French catalog, compiled from telehealth/translations/ (only when a source changed).
translations: $(STAMP)
	$(BIN)/python -c "from telehealth.i18n import compile_catalogs; compile_catalogs()"

# Every message people read, from the templates and the Python code, into the template
# catalog; then merged into the French catalog (new messages arrive untranslated; the
# catalog test names each one until it is translated).
i18n-extract: $(STAMP)
	$(BIN)/pybabel --quiet extract -F babel.cfg -k _l -k lazy_gettext -k NP_:1c,2 -o telehealth/translations/messages.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel --quiet update --no-fuzzy-matching -i telehealth/translations/messages.pot -d telehealth/translations -l fr_CA

run: install
	$(BIN)/telehealth init-db
	$(BIN)/telehealth seed-demo
	$(BIN)/telehealth media & trap 'kill $$! 2>/dev/null' EXIT INT TERM; $(BIN)/telehealth serve

lint: install
	$(BIN)/ruff check telehealth tests bench
	$(BIN)/ruff format --check telehealth tests bench
	$(BIN)/mypy

# Known vulnerabilities in the installed dependencies (PyPI's advisory data). A finding
# fails; a package the index cannot look up is listed, not failed (see docs/security.md).
audit: install
	$(BIN)/python tests/dependency_audit.py

# Every suite once (tests/suites.sh): lint and types, the dependency audit, unit and
# integration tests on both backends, and end-to-end tests (real server processes, WebRTC,
# Chromium, coturn) inside a private network namespace on both backends.
test: install
	bash tests/suites.sh

# The unit and integration tests only (no server processes, no browser), without the ones
# marked slow: a minute or two. `make test` and CI run everything.
test-quick: install
	$(BIN)/python -m pytest -q -ra -m "not slow" tests/unit tests/integration

bench: install
	$(BIN)/python bench/slots.py
	$(BIN)/python bench/booking_race.py

# One screenshot per page state into docs/screens/ (tests/e2e/screens.py), taken inside the
# network namespace as the browser tests run.
screens: install
	$(BIN)/python tests/netns.py $(BIN)/python -m tests.e2e.screens

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
