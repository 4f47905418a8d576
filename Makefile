# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch
DEMO_RECIPE ?= recipes/digits-cnn.yaml
# pytest-xdist workers: one per core (CI's 2 cores finish the suite in about 8 minutes instead of 12).
# --dist loadscope keeps each module on one worker: a module's trained-run fixtures are built once,
# not once per worker its tests land on.
TEST_WORKERS ?= auto
# One intra-op thread per worker: the workers already fill the cores, and torch's own threads on
# top of them only contend (the task contract tests: 93 s with torch's default, 74 s with one).
TEST_THREADS ?= 1

.PHONY: install demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is installed from TORCH_SPEC only when missing: a bare `torch` pulls GBs of CUDA wheels.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/dlcli train $(DEMO_RECIPE) --runs-dir runs
	$(BIN)/dlcli eval runs/$$(basename $(DEMO_RECIPE) .yaml)/latest --split test
	$(BIN)/dlcli export runs/$$(basename $(DEMO_RECIPE) .yaml)/latest

test: install
	OMP_NUM_THREADS=$(TEST_THREADS) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

bench: install
	$(BIN)/python benchmarks/train_loop.py
	$(BIN)/python benchmarks/inference.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/check.py
	$(BIN)/python benchmarks/batching.py
	$(BIN)/python benchmarks/airbench.py
	$(BIN)/python benchmarks/mfu.py
	$(BIN)/python benchmarks/generative_loop.py
	$(BIN)/python benchmarks/generative_quality.py

clean:
	rm -rf $(VENV) runs .pytest_cache
