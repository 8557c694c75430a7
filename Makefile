# The two commands: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench chaos dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The local stack, a seeded book of contracts driven through the webhooks, and a summary.
demo: $(STAMP)
	$(BIN)/q2c demo

dev: $(STAMP)
	$(BIN)/q2c dev

test: $(STAMP)
	bash scripts/ensure_postgres.sh
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Every benchmark of docs/PERFORMANCE.md (< 15 min); BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

# 200 contracts under faults, worker kills and a Temporal restart (docs/RELIABILITY.md).
chaos: $(STAMP)
	bash scripts/ensure_postgres.sh
	$(BIN)/python -m benchmarks.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .q2c .pytest_cache .mypy_cache .ruff_cache
