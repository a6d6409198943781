# ectui: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.lock
PIP_TOOLS := pip-tools==7.6.2
TEST_WORKERS ?= 4
# Test processes (pytest-xdist): the suite waits on clouds and terminals more than on the CPU, so four
# workers pay on two cores. Each worker has its own homes, dev clouds and PostgreSQL; a test file runs
# whole in one worker so its module fixtures start once.

.PHONY: run issuer test bench lint check i18n man clean upgrade-deps typecheck

# The development and test environment is exactly the lock: pinned versions with their hashes, the
# editable install's build backend included (no build isolation, so nothing unpinned is fetched).
# Users installing the package get the ranges of pyproject.toml.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

upgrade-deps:  ## the one deliberate way to move dependencies: rewrite requirements/dev.lock to the newest allowed
	test -x .venv-lock/bin/python || $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q '$(PIP_TOOLS)'
	.venv-lock/bin/pip-compile -q --upgrade --generate-hashes --allow-unsafe --strip-extras --extra test \
		--no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml requirements/dev.in
	@echo "$(LOCK) rewritten: review 'git diff $(LOCK)', run 'make i18n test', commit."

run: $(STAMP)  ## open the console on the built-in dev cloud (started and stopped with it)
	$(BIN)/ectui --demo

issuer: $(STAMP)  ## open the license issuer
	$(BIN)/ectui issuer

test: $(STAMP)  ## the whole suite: import contracts, types, translations, services, CLI, screens, snapshots
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)  ## benchmarks: each prints a table and writes bench/results/<name>.json
	$(BIN)/python bench/bench.py
	for script in bench/*_bench.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)  ## ruff (style and format) and mypy
	$(BIN)/ruff check ectui tests bench tools
	$(BIN)/ruff format --check ectui tests bench tools
	$(BIN)/mypy

check: lint test

i18n: $(STAMP)  ## recompile ectui/locale/zh_CN/LC_MESSAGES/ectui.mo from the parts
	$(BIN)/python tools/i18n.py compile
	$(BIN)/python tools/i18n.py missing

man: $(STAMP)  ## the man page man/ectui.1, generated from the command tree (read it: man -l man/ectui.1)
	$(BIN)/python -m ectui.manpage -o man/ectui.1

clean:
	rm -rf $(VENV) .venv-lock .pytest_cache .ruff_cache .mypy_cache

typecheck: $(STAMP)  ## mypy over the package (strict for services, database, commands and config)
	$(BIN)/mypy
