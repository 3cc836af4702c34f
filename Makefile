# doorsip: `make demo` runs a door and an indoor station on loopback; `make test`
# runs every test on CPython and on MicroPython. Both build what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MICROPYTHON := $(BIN)/micropython
STAMP := $(VENV)/.installed

.PHONY: all venv system-deps test test-cpython test-micropython bench demo clean

all: test

system-deps:
	@sh tools/system-deps.sh

$(STAMP): requirements-test.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.txt
	@# pyalsaaudio builds against libasound2-dev (installed by system-deps as root).
	@if [ -e /usr/include/alsa/asoundlib.h ]; then \
	    $(BIN)/pip install -q --disable-pip-version-check pyalsaaudio==0.11.0; fi
	$(BIN)/pip install -q --disable-pip-version-check -e .
	@touch $(STAMP)

venv: system-deps $(STAMP)

test: venv test-cpython test-micropython

test-cpython: venv
	$(BIN)/python -m pytest -q tests/unit tests/integration

test-micropython: venv
	MICROPYPATH=firmware:tests:.frozen $(MICROPYTHON) -X heapsize=2M tests/mpy_runner.py tests/unit tests/mpy

bench: venv
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

demo: venv
	$(BIN)/doorsip demo

clean:
	rm -rf $(VENV) build
