# `make run` and `make test` are the two commands a newcomer needs (see README).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench

$(BIN)/.installed: requirements.txt requirements-dev.txt requirements-bench.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# exec: the service is make's own child, as the Procfile's; make cannot pass its exit code on (it says `Error 3` in a
# line of its own and exits 2), so the recipe is not echoed: the refusal is the one line the guard printed above it
run: $(BIN)/.installed
	@exec $(BIN)/python -m guard.web

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py
