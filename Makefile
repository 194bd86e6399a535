# Two entry points: `make run` (set up + start the app) and `make test` (set up + run every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install install-test run test lint bench bench-scale clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[eval]'
	touch $@

# llama.cpp is compiled for a portable x86-64 (AVX2) rather than this CPU: its AMX kernels, chosen on CPUs that
# report AMX, crash in virtual machines that do not enable the AMX tile state (seen here with 0.3.36). No pip
# cache: a wheel built earlier for this CPU would be reused whatever CMAKE_ARGS say.
$(VENV)/.installed-test: $(VENV)/.installed
	CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $(PY) -m pip install --no-cache-dir -e '.[test,eval,llm-server,bench]'
	bash scripts/install-system-deps.sh
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(PY) app.py

test: install-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: install-test
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m bench.quick

bench-scale: install
	$(PY) -m pip install -e '.[bench]'
	$(PY) -m bench.scale

clean:
	rm -rf $(VENV) .rag
