# Two entry points (see README): `make conformance` and `make test`.
# Everything they need is installed here: system packages by .ci/system-deps,
# Python packages into .venv from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: conformance test venv system-deps clean

conformance: system-deps $(STAMP)
	$(BIN)/azihsm-conformance run --backend reference --level full

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -n auto tests

venv: $(STAMP)

system-deps:
	@bash .ci/system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[vectors]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
