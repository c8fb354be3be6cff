# saliencykit developer commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
OUT ?= demo-output

.PHONY: install demo test lint bench bench-oxai clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
# The MediaPipe detectors are .tflite files inside the mediapipe==0.10.14 wheel: it is downloaded (never installed,
# so pip has no unmet mediapipe dependencies to complain about) and the files are read out of it into the cache.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[torch,demo,dev,ray]"
	$(PY) -m saliencykit.detection.mediapipe_files
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/saliencykit demo --out $(OUT)

test: install browser
	$(PY) -m pytest -q

# The audit report's tests open it in Debian's chromium (driven by Playwright from the dev extra; no browser
# download). CI runs as root and installs it; elsewhere a failed install only makes those tests skip.
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || echo "chromium could not be installed: the audit report's browser tests will be skipped"

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install
	$(PY) bench/inference.py
	$(PY) bench/whitebox.py
	$(PY) bench/metrics.py
	$(PY) bench/blackbox.py
	$(PY) bench/blas_threads.py
	$(PY) bench/audit.py
	$(PY) bench/detection.py

# openvino-xai 1.1 pins openvino 2024.4 and numpy 1.x: it lives in its own environment, used only by bench/.
bench/.venv-oxai/bin/python:
	$(PYTHON) -m venv bench/.venv-oxai
	bench/.venv-oxai/bin/pip install --quiet openvino-xai==1.1.0 opencv-python-headless

bench-oxai: bench/.venv-oxai/bin/python

clean:
	rm -rf $(VENV) bench/.venv-oxai $(OUT)
