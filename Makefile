# spreadwatch — two commands set everything up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(PYTHON) -m uv
RUN := $(VENV)/bin
# Debian packages the test suite needs (installed with apt when missing).
SYSTEM_PACKAGES := mosquitto chromium fonts-nanum
# Debian packages the benchmarks add: R's surveillance::hhh4, timed beside the forecasts.
BENCH_PACKAGES := r-base-core r-cran-surveillance
DEMO_OUT ?= demo-out
PYTEST_ARGS ?=

.PHONY: demo test test-all bench lint format env sysdeps clean

$(VENV)/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || { \
	  $(PYTHON) -m pip --version >/dev/null 2>&1 || { apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip python3-venv; }; \
	  $(PYTHON) -m pip install --quiet uv 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --user --break-system-packages uv; }
	$(UV) sync --frozen --all-extras
	@# this machine kind never writes bytecode (PYTHONDONTWRITEBYTECODE): compile it once, and
	@# fill numba's kernel cache, so that commands start fast from the first run
	$(RUN)/python -m compileall -q -j 0 src $(VENV)/lib > /dev/null
	$(RUN)/python -m spreadwatch.warmup
	@touch $@

env: $(VENV)/.synced ## Create or update the environment from the lock.

sysdeps: ## Install the Debian packages the tests need, if missing.
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

demo: env ## Run the end-to-end job on synthetic Korea and write the HTML report.
	$(RUN)/spreadwatch demo --out $(DEMO_OUT)

test: env sysdeps ## Run the test suite (slow tests excluded; see test-all).
	$(RUN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

test-all: env sysdeps ## Run every test, slow ones included.
	$(RUN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: env ## Run the benchmarks; figures go to bench-results.json.
	@$(MAKE) --no-print-directory sysdeps SYSTEM_PACKAGES="$(BENCH_PACKAGES)"
	$(RUN)/python -m benchmarks

lint: env ## Lint and check formatting.
	$(RUN)/ruff check src tests benchmarks
	$(RUN)/ruff format --check src tests benchmarks

format: env ## Format the code.
	$(RUN)/ruff format src tests benchmarks
	$(RUN)/ruff check --fix src tests benchmarks

clean: ## Remove the environment and outputs.
	rm -rf $(VENV) $(DEMO_OUT) bench-results.json .pytest_cache .ruff_cache
