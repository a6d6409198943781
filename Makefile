# ectui: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run issuer test bench lint check i18n clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## open the console on the built-in dev cloud (started and stopped with it)
	$(BIN)/ectui --demo

issuer: $(STAMP)  ## open the license issuer
	$(BIN)/ectui issuer

test: $(STAMP)  ## the whole suite: import contracts, translations, services, CLI, screens
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)  ## benchmarks: each prints a table and writes bench/results/<name>.json
	$(BIN)/python bench/bench.py
	for script in bench/*_bench.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check ectui tests bench tools
	$(BIN)/ruff format --check ectui tests bench tools

check: lint test

i18n: $(STAMP)  ## recompile ectui/locale/zh_CN/LC_MESSAGES/ectui.mo from the parts
	$(BIN)/python tools/i18n.py compile
	$(BIN)/python tools/i18n.py missing

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
