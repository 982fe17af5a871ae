# Build, test and browse the book. Everything runs inside .venv, which is made on first use.
#
#   make book       build the site into _build/html (strict: any warning fails), with
#                   JupyterLite under _build/html/lite
#   make test       ruff and actionlint, the strict book build, then every pytest test
#                   (library, symbolic, notebooks, widgets, site in chromium), on all cores
#   make test-fast  the core library's tests only (tests/core and its doctests), for the
#                   edit-test loop: under a minute
#   make lab        JupyterLab on book/, chapters open as notebooks
#   make bench      speed and memory against JAX, PyTorch, SciPy, KDEpy (installs extras)
#   make clean      remove _build and caches (keeps .venv)
#   make distclean  clean, and remove .venv too

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV ?= .venv
# The site goes to $(OUTDIR)/_build (jupyter-book's layout); tests point OUTDIR elsewhere.
OUTDIR ?= .
LIBDIR ?= src/kdeloss
BUILDDIR := $(OUTDIR)/_build

BIN := $(VENV)/bin
# Re-install only when these change (the stamp lives inside .venv, so distclean resets it).
STAMP := $(VENV)/.requirements-stamp
# JupyterLab reads overrides.json from its application directory, here inside the venv.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
# Hash of the library sources (Python, and the live demos' JavaScript, which the notebooks'
# outputs embed) whose notebook outputs are in the execution cache.
CACHE_KEY := $(BUILDDIR)/.kdeloss-hash
# Hash of everything the site is built from, as of the last successful build (make book).
SITE_KEY := $(BUILDDIR)/.site-key
# Wheels for the in-browser (JupyterLite) kernel; the book build finds them through
# KDELOSS_LITE_WHEELS (tools/sphinxext/lite.py) and ships them in _build/html/lite.
LITE_WHEELS := $(BUILDDIR)/lite-wheels

# Tools run from the venv without activating it.
export PATH := $(abspath $(BIN)):$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))
# Silence ipykernel's debugger note about frozen modules on every kernel start.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test test-fast lab clean distclean venv lint linkcheck cache-key lite-wheels

# pytest-xdist workers (one per core); the hypothesis examples per property in test-fast.
TEST_WORKERS ?= auto
FAST_EXAMPLES ?= 40

# The site is rebuilt (strictly, every page) unless nothing it is built from changed since the
# last build that succeeded: SITE_KEY holds the hash of those sources, written after success.
book: venv cache-key lite-wheels
	@key=$$(find book src tools benchmarks _config.yml _toc.yml requirements.txt pyproject.toml -type f \
	        -not -path '*/__pycache__/*' -not -path '*/.*' -print0 \
	        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); \
	if [ -f $(BUILDDIR)/html/index.html ] && [ "$$key" = "$$(cat $(SITE_KEY) 2>/dev/null)" ]; then \
	    echo "book: $(BUILDDIR)/html is up to date (none of its sources changed since it was built)"; \
	else \
	    rm -f $(SITE_KEY); \
	    KDELOSS_LITE_WHEELS=$(abspath $(LITE_WHEELS)) tools/build-book . $(OUTDIR); \
	    echo "$$key" > $(SITE_KEY); \
	fi

test: venv lint book
	pytest -n $(TEST_WORKERS) --dist loadfile

# The edit-test loop: the core library's tests and doctests only (no book, no browser),
# with fewer hypothesis examples (KDELOSS_EXAMPLES); make test runs them all in full.
test-fast: venv
	KDELOSS_EXAMPLES=$(FAST_EXAMPLES) pytest -q -n $(TEST_WORKERS) tests/core src/kdeloss \
	    --ignore=src/kdeloss/book

# Sphinx's linkcheck of the external links (needs the internet), notebooks not executed.
# Internal links are checked by the strict build (-n) and, in the built pages, by the
# browser test: not here, so that make test checks each link once.
linkcheck: venv
	KDELOSS_LINKCHECK_EXTERNAL=1 python tools/linkcheck.py

lint: venv
	ruff check .
	actionlint -color=false .github/workflows/book.yml

# Extra JupyterLab options, e.g. make lab LAB_FLAGS="--no-browser --port=8890".
LAB_FLAGS ?=
lab: venv
	jupyter lab --ServerApp.root_dir=book $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_FLAGS)

venv: $(STAMP) $(LAB_SETTINGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt
	@# Build matplotlib's font cache now, so its one-off notice never lands in a chapter.
	$(BIN)/python -c "import matplotlib.pyplot"
	touch $@

$(LAB_SETTINGS): tools/lab-overrides.json | $(STAMP)
	mkdir -p $(@D)
	cp $< $@

# Clear the execution cache whenever a library source changed since the cache was filled.
cache-key:
	@mkdir -p $(BUILDDIR)
	@new=$$(cd $(LIBDIR) && find . \( -name '*.py' -o -name '*.js' \) -not -path '*/__pycache__/*' -print0 \
	        | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-64); \
	if [ "$$new" != "$$(cat $(CACHE_KEY) 2>/dev/null)" ]; then \
	    echo "$(LIBDIR) changed: clearing $(BUILDDIR)/.jupyter_cache"; \
	    rm -rf $(BUILDDIR)/.jupyter_cache; \
	    echo "$$new" > $(CACHE_KEY); \
	fi

# kdeloss, built from src/, and the other pure-Python wheels the in-browser kernel installs.
lite-wheels: venv
	$(BIN)/python tools/lite/build_wheels.py $(LITE_WHEELS)

clean:
	rm -rf $(BUILDDIR) .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) src/*.egg-info

# ---- bench (issue #7, fast methods) ------------------------------------------------------------
# `make bench`: install the optional peers (JAX, PyTorch CPU, KDEpy) and run the benchmark of
# loss_and_grad's methods; writes benchmarks/results/ (bench.json, bench.md, times.png,
# ratios.png), which the chapter "Computing it fast" reads. About 3-10 minutes on 2 cores.
.PHONY: bench
bench: venv
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-bench.txt
	$(BIN)/python benchmarks/bench.py
# ---- end bench ---------------------------------------------------------------------------------
