# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv and installs the package (editable) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test venv bench clean-venv

venv: $(STAMP)

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e ".[test]"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	@echo "make demo: the embedded mini-corpus recipe is not yet available (issue 4)."
	$(VENV)/bin/se-mamba info

bench: $(STAMP)
	$(PY) benchmarks/bench_mamba.py --out docs/bench_mamba.md
	$(PY) benchmarks/model_card.py --out docs/model_card.md

clean-venv:
	rm -rf $(VENV)
