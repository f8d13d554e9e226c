# Two commands do all the set-up on a fresh Debian machine:
#   make run    installs everything the app needs, then starts it on http://localhost:$(PORT)
#   make test   installs everything the tests need, then runs the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test system bench clean

# Debian packages: Fashion-MNIST's files, Chromium for the browser test, venv support.
# Installed only when run as root and only what is missing.
system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; \
	  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  $(PYTHON) -c "import ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	  if [ -n "$$missing" ]; then \
	    echo "apt-get install:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  fi; \
	else \
	  echo "not root: skipping apt-get; for Fashion-MNIST and the browser test run: sudo apt-get install dataset-fashion-mnist chromium"; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# requirements*.txt hold the pins; then the project itself is installed editable with --no-deps, so
# pip never re-resolves (and never swaps) the torch the requirements put there. The install is what
# lets `streamlit run`, workers and the `mtl` command import mtlcore and dashboard from anywhere.
$(VENV)/.app-installed: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@ $(VENV)/.app-installed

# Byte-compiled first, as pip does for installed packages: the editable install leaves the app's own
# modules to be compiled by the first page that imports them (every time where PYTHONDONTWRITEBYTECODE is set).
run: system $(VENV)/.app-installed
	$(PY) -m compileall -q dashboard mtlcore
	$(PY) -m streamlit run dashboard/server.py --server.port $(PORT)

test: system $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(PY) -m pytest

# every benchmark, one after the other (each prints its own table; about 15 minutes here)
bench: system $(VENV)/.dev-installed
	$(PY) -m benchmarks.bench_train
	$(PY) -m benchmarks.bench_weighting
	$(PY) -m benchmarks.bench_augment
	$(PY) -m benchmarks.bench_session
	$(PY) -m benchmarks.bench_compare
	$(PY) -m benchmarks.bench_landscape
	$(PY) -m benchmarks.bench_app

clean:
	rm -rf $(VENV) .pytest_cache
