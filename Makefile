# newsbeam - `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE_INPUTS := --input 'data/sample/*.jsonl' --input 'data/sample/*.jsonl.gz' --input 'data/sample/*.txt' \
                 --input 'data/sample/*.html' --input 'data/sample/*.rss' --input 'data/sample/*.atom'
OUTPUT ?= output
PYTEST_ARGS ?=

.PHONY: help install run test bench eval lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

install: $(PY) ## create .venv and install newsbeam (editable) with the test tools
	$(PY) -m pip install --quiet -e '.[test]'

run: ## run the pipeline on the bundled sample into ./output and print a summary
	$(PY) -m pipeline $(SAMPLE_INPUTS) --output $(OUTPUT) --config configs/local.yaml

test: ## the whole test suite
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: ## benchmarks on generated data (not part of make test); writes bench/results/
	$(PY) -m bench.run

eval: ## quality on labelled data: language, dedup, stories, topics (P/R/F1)
	$(PY) -m eval.run

lint: ## static checks: syntax errors, undefined and unused names (ruff)
	$(VENV)/bin/ruff check pipeline transforms tests eval bench

clean: ## remove outputs and caches (keeps .venv)
	rm -rf $(OUTPUT) .pytest_cache build *.egg-info
