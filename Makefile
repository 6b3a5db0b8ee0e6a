# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Any supported Python (3.11-3.13) and its own venv, e.g. `make test PYTHON=python3.13 VENV=.venv-3.13`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test validate render bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Main job: recommendations for the shipped example patient, with provenance.
run: $(STAMP)
	$(BIN)/guidelinekg validate
	$(BIN)/guidelinekg recommend examples/patient-ferritin-45.json --as-of 2026-01-15 --provenance examples/out/provenance.ttl

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

validate: $(STAMP)
	$(BIN)/guidelinekg validate

render: $(STAMP)
	$(BIN)/guidelinekg render --format markdown

bench: $(STAMP)
	$(BIN)/python bench/bench_validate.py
	$(BIN)/python bench/bench_recommend.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_cohort.py
	$(BIN)/python bench/bench_audit.py
	$(BIN)/python bench/bench_hooks.py
	$(BIN)/python bench/bench_compiled.py

clean:
	rm -rf $(VENV) .venv-* build *.egg-info src/*.egg-info .pytest_cache
