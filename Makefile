# Two entry points (see README): `make conformance` and `make test`.
# Everything they need is installed here: system packages by .ci/system-deps,
# Python packages into .venv from pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: conformance test lint venv system-deps clean

conformance: system-deps $(STAMP)
	$(BIN)/azihsm-conformance run --backend reference --level full

# The project's own tests, then the conformance suite's quick level against a non-system
# OpenSSL (built once into ~/.cache/azihsm-conformance, reused afterwards).
CI_OPENSSL ?= 3.5

# Then a bounded hostile-input campaign (100 inputs per family; bench/bench_hostile.py runs
# the long one), the reference in its 2026-08 openssl.cnf configuration, the reference in
# its in-process mode (no device server; system OpenSSL), and a second real provider (pkcs11-provider over SoftHSM) at the quick level, for its
# recorded report: it does not conform (its findings are in the report), so exit code 1
# (does not conform) is expected there; a usage or harness error (2) still fails.
test: system-deps $(STAMP) lint
	$(BIN)/python -m pytest -n auto -m "not slow" tests
	$(BIN)/azihsm-conformance openssl provision $(CI_OPENSSL)
	$(BIN)/azihsm-conformance run --openssl $(CI_OPENSSL) --level quick --out azihsm-results/ci-ossl$(subst .,,$(CI_OPENSSL))
	$(BIN)/azihsm-conformance run --openssl $(CI_OPENSSL) --level hostile --hostile-budget 100 --out azihsm-results/ci-hostile
	$(BIN)/azihsm-conformance run --backend reference-provisioned --level quick --out azihsm-results/ci-provisioned
	$(BIN)/azihsm-conformance run --backend reference-in-process --level quick --out azihsm-results/ci-in-process
	$(BIN)/azihsm-conformance run --backend pkcs11-softhsm --level quick --out azihsm-results/ci-pkcs11-softhsm || [ $$? -eq 1 ]

# Style: ruff (lint and format, pyproject.toml) for Python, clang-format (.clang-format) for C.
C_SOURCES := $(shell git ls-files '*.c' '*.h' 2>/dev/null || find . -path ./.venv -prune -o -name '*.[ch]' -print)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/clang-format --dry-run --Werror $(C_SOURCES)

venv: $(STAMP)

system-deps:
	@bash .ci/system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[vectors,pkcs11,dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
