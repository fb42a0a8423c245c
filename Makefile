# `make run` and `make test` each create the virtual environment and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: setup browser run ingest test eval bench fuzz lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0  # first, pinned: the local CPU wheel, not CUDA
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian's chromium for the browser tests (never `playwright install`: no downloads at test time).
browser:
	@command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; }

ingest: setup
	$(PY) ingest.py

run: ingest
	$(PY) app.py

test: setup browser
	$(PY) -m pytest -q -m "slow or not slow"  # overrides pyproject's default `-m 'not slow'`: quick and slow tests
	$(PY) eval/run.py --cases eval/cases/seeds.jsonl --config hybrid --gate eval/baseline.json

eval: setup
	$(PY) eval/run.py --cases eval/cases/seeds.jsonl --json eval/results/metrics.json --report eval/results

bench: setup
	$(PY) bench/ingest_bench.py
	$(PY) bench/query_bench.py --sizes 1000 10000 100000
	$(PY) bench/http_bench.py

fuzz: setup
	$(PY) -m tests.fuzz_api --max-examples 50

lint: setup
	$(VENV)/bin/ruff check rag eval bench tests ingest.py app.py
