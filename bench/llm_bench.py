"""python bench/llm_bench.py [--model qwen2.5-coder-0.5b qwen2.5-coder-1.5b] [--cases eval/cases/heldout.jsonl] [--limit 20]

The LLM path's waits with a local model (llama.cpp's server on these cores, the model prepared by `make llm`): time to
the first sentence shown (generated, then verified against its passage) and to the whole answer, p50 and p95, and the
share of generated sentences the check dropped. Every question calls the model (RAG_CALIBRATION=none: no gate), over
the seeds indexed with e5-small. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.cases import load_cases
from eval.metrics import percentile
from rag.indexing import ingest
from rag.local_llm import MODELS, LocalServer, prepare
from rag.pipeline import Pipeline
from rag.schema import Answer
from rag.settings import Settings


def measure(model: str, questions: list[str], data: Path) -> dict:
    settings = Settings.from_env({}, data_dir=data / "bench-llm", collection="bench-llm")
    ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    with LocalServer(prepare(Path("data"), model), log=data / f"llama-{model}.log") as url:
        p = Pipeline(settings.replace(llm=f"openai:{model}", llm_base_url=url, llm_api_key="local", calibration="none",
                                      llm_timeout=300.0)).warm_up()
        p.ask(questions[0])  # the server's prompt cache holds the fixed part from here on, as in use
        first, total, sentences, dropped, model_answers, not_found = [], [], 0, 0, 0, 0
        for q in questions:
            started, seen = time.perf_counter(), None
            for item in p.stream(q):
                if isinstance(item, Answer):
                    answer = item
                elif seen is None:
                    seen = time.perf_counter() - started
            total.append(time.perf_counter() - started)
            if seen is not None and answer.answerer.startswith("openai:"):  # a sentence the model wrote, verified
                first.append(seen)
            not_found += bool(answer.signals.get("llm_not_found"))
            sentences += int(answer.signals.get("llm_sentences", 0))
            dropped += int(answer.signals.get("llm_dropped", 0))
            model_answers += answer.answerer.startswith("openai:")
    return {"model": model, "questions": len(questions), "first_p50_s": round(percentile(first, 0.5), 2),
            "first_p95_s": round(percentile(first, 0.95), 2), "with_a_generated_sentence_shown": len(first),
            "total_p50_s": round(percentile(total, 0.5), 2), "total_p95_s": round(percentile(total, 0.95), 2),
            "generated_sentences": sentences, "dropped_share": round(dropped / sentences, 3) if sentences else None,
            "answers_from_the_model": model_answers, "model_said_not_found": not_found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--cases", type=Path, default=Path("eval/cases/heldout.jsonl"))
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--data", type=Path, default=Path("data/bench"))
    args = parser.parse_args(argv)
    questions = [c.question for c in load_cases(args.cases) if c.expect != "handoff"][: args.limit]
    rows = [measure(m, questions, args.data) for m in args.model]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
