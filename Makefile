# The two commands of the README: `make demo` (install everything, run the demo audit) and
# `make test` (install what is missing, run the whole test suite). .ci/run calls `make test`.
VENV := .venv
STAMP := $(VENV)/.hulian-installed
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: setup demo test lint typecheck clean fuzz

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

demo: setup
	$(VENV)/bin/hulian policies validate
	$(VENV)/bin/hulian inspect examples/
	$(VENV)/bin/hulian run --lab --out runs

test: setup
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

# The fuzzing harness over the readers (tests/test_fuzz.py) for longer than the suite's few
# dozen examples per reader: FUZZ_EXAMPLES per reader (default 3000, ~10-20 min on 2 cores).
# A failure's input is left in tests/fuzz_regressions/<reader>/found-latest.
FUZZ_EXAMPLES ?= 3000
fuzz: setup
	HULIAN_FUZZ=long HULIAN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
