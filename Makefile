# icd-mx: `make test` and `make demo` set themselves up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPUS ?=
CONFIG ?= configs/voc_vgg16_icd.yaml
ARGS ?=
export OMP_NUM_THREADS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install install-gpu test test-fast lint demo train symbols bench clean

$(VENV)/.installed: requirements.txt requirements-base.txt setup.py icd_mx/_fh.cpp
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

# GPU machines (CUDA 11.2, cuDNN 8, NCCL): the CUDA build of MXNet instead of the CPU one.
install-gpu:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -r requirements-gpu.txt pytest==9.2.0 flake8==7.1.1
	ICD_MX_GPU=1 $(PY) -m pip install -q --no-deps -e .
	touch $(VENV)/.installed

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q -m "not e2e" tests

lint: install
	$(PY) -m flake8 icd_mx tools tests benchmarks

demo: install
	$(PY) tools/demo.py $(ARGS)

train: install
	$(PY) tools/train.py --config $(CONFIG) $(if $(GPUS),train.gpus=[$(GPUS)]) $(ARGS)

symbols: install
	$(PY) tools/export_symbols.py --out symbols

bench: install
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
