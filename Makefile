# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv and installs the package (editable) when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test venv bench clean-venv publish-demo

venv: $(STAMP)

# every extra (the tests and the demo use them all), at the versions of
# requirements/constraints.txt: the reproducible environment
$(STAMP): pyproject.toml requirements/constraints.txt Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -c requirements/constraints.txt -e ".[test]"
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

# The main job: the mini recipe end to end (corpus, training, enhancement, scoring,
# ASR, packing) -> exp/mini/RESULTS.md, RESULTS_ASR.md, pretrained/ (untracked).
demo: $(STAMP)
	bash recipes/mini/run.sh

# Commit-ready copies of the last demo run: recipes/mini/RESULTS*.md, figures, pretrained/.
publish-demo:
	bash recipes/lib/publish.sh mini

bench: $(STAMP)
	$(PY) benchmarks/bench_mamba.py --out docs/bench_mamba.md
	$(PY) benchmarks/model_card.py --out docs/model_card.md

clean-venv:
	rm -rf $(VENV)
