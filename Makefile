# icd-mx: `make test` and `make demo` set themselves up on a fresh machine (Python 3.11).
# One MXNet build per venv: `make install` (CPU) or `make install-gpu` (CUDA 11.2 build + the pip CUDA
# wheels; a GPU machine needs only the NVIDIA driver). The build is recorded in $(VENV)/.flavour; every
# other target keeps it (docs/gpu.md).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
GPUS ?=
CONFIG ?= configs/voc_vgg16_icd.yaml
ARGS ?=
export OMP_NUM_THREADS ?= $(shell nproc 2>/dev/null || echo 2)
# the installed build (cpu when there is no venv yet); `make install`/`install-gpu` override it
# (a venv from before .flavour: gpu when it holds mxnet-cu112)
FLAVOUR = $(shell cat $(VENV)/.flavour 2>/dev/null || \
	{ $(PY) -m pip show -q mxnet-cu112 >/dev/null 2>&1 && echo gpu; } || echo cpu)

.PHONY: install install-gpu doctor test test-fast lint demo train symbols bench clean

# (re)install the recorded build when a requirements file changed
$(VENV)/.installed: requirements.txt requirements-base.txt requirements-gpu.txt setup.py icd_mx/_fh.cpp icd_mx/_counts.cpp icd_mx/_pybuf.h tools/install_venv.sh
	@sh tools/install_venv.sh $(FLAVOUR) $(VENV) $(PYTHON)

install:
	@sh tools/install_venv.sh cpu $(VENV) $(PYTHON)

install-gpu:
	@sh tools/install_venv.sh gpu $(VENV) $(PYTHON)

doctor: $(VENV)/.installed
	@$(PY) -m icd_mx.env --config $(CONFIG)

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not e2e" tests

lint: $(VENV)/.installed
	$(PY) -m flake8 icd_mx tools tests benchmarks

demo: $(VENV)/.installed
	$(PY) tools/demo.py $(ARGS)

train: $(VENV)/.installed
	@$(PY) tools/train.py --config $(CONFIG) $(if $(GPUS),train.gpus=[$(GPUS)]) $(ARGS)

symbols: $(VENV)/.installed
	$(PY) tools/export_symbols.py --out symbols

bench: $(VENV)/.installed
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
