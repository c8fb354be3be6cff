# saliencykit developer commands. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
OUT ?= demo-output

.PHONY: install demo test test-fast lint typecheck bench bench-oxai bench-compare bench-judge clean browser

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

# The whole suite, after the lint and the type check (what CI runs: .ci/run).
test: install browser lint typecheck
	$(PY) -m pytest -q

# The inner loop: the tests not marked slow (end-to-end CLI runs, the regression lock, Ray, the browser).
test-fast: install
	$(PY) -m pytest -q -m "not slow"

# The audit report's tests open it in Debian's chromium (driven by Playwright from the dev extra; no browser
# download). CI runs as root and installs it; elsewhere a failed install only makes those tests skip.
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || echo "chromium could not be installed: the audit report's browser tests will be skipped"

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

# mypy at its default strictness (pyproject's [tool.mypy]), on src/.
typecheck: install
	$(VENV)/bin/mypy src

# Every benchmark that runs in the main environment, written to docs/benchmarks.md (bench/run_all.py). Those that
# also compare with openvino-xai do so when `make bench-oxai` has built its environment, and skip it otherwise.
bench: install
	$(PY) bench/run_all.py

# Side by side with openvino-xai 1.1 (its own environment): the metrics cross-check and its published examples.
# The oxai_*.py scripts are their companions, run inside bench/.venv-oxai by these and by `make bench`.
bench-compare: install bench-oxai
	$(PY) bench/metrics_crosscheck.py
	$(PY) bench/oxai_dropin.py

# The faithfulness judge (every method, openvino-xai's anchors included, under a battery of removal protocols) and
# the search of quality against model calls that chose RISE()'s default: about two hours from an empty cache.
bench-judge: install bench-oxai
	$(PY) bench/run_all.py judge blackbox_search

# openvino-xai 1.1 pins openvino 2024.4 and numpy 1.x: it lives in its own environment, used only by bench/.
bench/.venv-oxai/bin/python:
	$(PYTHON) -m venv bench/.venv-oxai
	bench/.venv-oxai/bin/pip install --quiet openvino-xai==1.1.0 opencv-python-headless

bench-oxai: bench/.venv-oxai/bin/python

clean:
	rm -rf $(VENV) bench/.venv-oxai $(OUT)
