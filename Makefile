# Conveyor: `make demo` runs the whole loop on the bundled example; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
JOBS   ?= 2

.PHONY: install demo test lint bench clean

$(BIN)/conveyor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,examples,torch]'
	@touch $@

install: $(BIN)/conveyor

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: install
	$(BIN)/python -m pytest -n $(JOBS) tests

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/quality.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/canary_bench.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/drift_bench.py
	@case ",$(BENCH_ONLY)," in ,,|*,serving,*) \
	  command -v wrk >/dev/null || echo "note: wrk is not installed (Debian: apt-get install wrk);" \
	    "the serving bench falls back to a Python load generator, which caps its figures"; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/serving_bench.py;; esac

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
