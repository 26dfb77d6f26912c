# The two commands of the README: `make demo` (install everything, run the demo audit) and
# `make test` (install what is missing, lint, run the whole test suite). .ci/run calls
# `make test`.
VENV := .venv
STAMP := $(VENV)/.hulian-installed
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

# pytest's own options for `make test`, e.g. `make test PYTEST_ARGS="-x -k report"`.
PYTEST_ARGS ?=

.PHONY: setup demo test lint clean fuzz

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh scripts/wacz-verifier.sh scripts/site-vendor.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

# The demo signs its run with a key of its own (made once, in runs/.demo-key) and checks the
# signature: consistency, origin (--trust the demo key's fingerprint).
DEMO_KEY := runs/.demo-key
DEMO_RUN := demo-$(shell date -u +%Y%m%dT%H%M%SZ)

demo: setup
	$(VENV)/bin/hulian policies validate
	$(VENV)/bin/hulian inspect examples/
	test -f $(DEMO_KEY)/hulian-signing.key || $(VENV)/bin/hulian keys generate --out $(DEMO_KEY)
	$(VENV)/bin/hulian run --lab --out runs --run-id $(DEMO_RUN) --sign-key $(DEMO_KEY)/hulian-signing.key
	$(VENV)/bin/hulian verify runs/$(DEMO_RUN) --trust $$($(VENV)/bin/hulian keys show $(DEMO_KEY)/hulian-signing.pub)
	$(VENV)/bin/hulian site build --out runs/site
	@echo "The site of the demo's history: open file://$(CURDIR)/runs/site/index.html in a browser,"
	@echo "or preview it with: $(VENV)/bin/hulian site serve runs/site  (http://127.0.0.1:8000/)"

# Lint first (ruff, mypy, lint-imports): a style, type or layer error fails in a minute, not
# after the suite.
# Two test processes (pytest-xdist), a test file each at a time: a file's module-scoped
# fixtures (lab runs, stores, servers) are made once, the files with slow tests handed out
# first (tests/conftest.py). On 2 cores: `make test` in 7 min 27 s, mypy's cache empty as on a
# fresh clone (1,587 tests in 6 min 56 s; README, "Tests"). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# The fuzzing harness over the readers (tests/test_fuzz.py) for longer than the suite's few
# dozen examples per reader: FUZZ_EXAMPLES per reader (default 3000, ~10-20 min on 2 cores).
# A failure's input is left in tests/fuzz_regressions/<reader>/found-latest.
FUZZ_EXAMPLES ?= 3000
fuzz: setup
	HULIAN_FUZZ=long HULIAN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# ruff (style, banned imports), mypy (types), lint-imports (the layers in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .venv-pywb .mypy_cache .ruff_cache .pytest_cache
