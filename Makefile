# Two commands do all the set-up:  `make demo` (the main job on the embedded default) and
# `make test` (the whole suite). Both create .venv and install bench into it on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# constraints.txt pins torch to the local CPU build on the project's machines; users elsewhere
# get any torch >= 2.4 from pyproject.toml.
PIP_INSTALL = $(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test test-fast golden bench-grid bench-embed bench-perf gpu-check bench-dask clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev,dask]'  # the dask extra: its tests run in CI
	touch $@

demo: setup
	$(BIN)/bench run --embedder mfcc --dataset synth

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

# Recompute the golden run that tests/test_spine_e2e.py compares against (after a change that
# is meant to move the numbers: synth generator, baseline embedder, protocol). One thread, as the
# tests train (and spinning threads on a busy machine are many times slower).
golden: setup
	rm -rf build/golden && BENCH_PROGRESS=0 $(BIN)/bench run -e mfcc -d synth-mini --seed 0 \
	  --threads 1 --no-tracking --out build/golden --data-dir build/golden-data --cache-dir build/golden-cache
	rm -rf results/golden/synth-mini-mfcc-paper-s0 && mkdir -p results/golden/synth-mini-mfcc-paper-s0
	cp build/golden/*/results.json build/golden/*/predictions.csv results/golden/synth-mini-mfcc-paper-s0/

bench-grid: setup
	$(BIN)/python benchmarks/grid_bench.py

bench-embed: setup
	$(BIN)/python benchmarks/embed_bench.py

# Quiet vs loaded (two CPU-bound neighbours), decode+resample with 1 vs 2 workers, bf16 vs fp32.
bench-perf: setup
	$(BIN)/python benchmarks/perf_bench.py

# CPU-vs-GPU parity per family, grid trainer and throughput; DEVICE=cpu proves it runs anywhere.
DEVICE ?= cuda
gpu-check: setup
	$(BIN)/python benchmarks/gpu_check.py --device $(DEVICE)

bench-dask: setup
	$(BIN)/python benchmarks/dask_bench.py

clean:
	rm -rf build results/runs .pytest_cache
