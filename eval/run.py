"""python eval/run.py --cases FILE [--cases FILE ...] [--config NAME ...] [--json OUT] [--report DIR] [--gate BASELINE]
                    [--dev-split JSON] [--before JSON] [--calibrate FILE] [--docs DIR]

Runs every case file through each configuration, side by side, on the same index build, and prints the metrics,
with the risk-coverage of each (the precision of the answers shown against the share of answerable questions
answered, its area, and the operating point the calibrated thresholds pick). The gate compares the first
configuration of each case file with the baseline's entry for that file's name. `--calibrate FILE` fits a
calibrator on the cases instead (an operator's own, on their own corpus) and writes the file RAG_CALIBRATION reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.cases import CaseError, load_cases
from eval.desk_cases import desk_sets
from eval.metrics import KEYS, Record, compute, failures, regressions, risk_coverage, would_be_right
from rag.calibration import cross_validated, fit
from rag.conversation import standalone_question
from rag.errors import RelaisError
from rag.indexing import ingest
from rag.local_llm import serve_for
from rag.pipeline import Pipeline
from rag.schema import Answer, Citation
from rag.settings import Settings

TOLERANCE = 0.02  # absolute drop allowed on any quality metric before the gate fails


@dataclass(frozen=True)
class Config:
    name: str
    overrides: dict
    tutorial: bool = False
    help: str = ""


CONFIGS = [
    Config("hybrid", {}, help="default: e5-small dense + BM25, RRF, extractive answers picked by the rules scorer; the shipped "
           "calibrator answers at RAG_TARGET_PRECISION, else closest passages or abstention"),
    Config("reader", {"reader": "model"}, help="the same retrieval, sentences picked by the trained reader (RAG_READER=model), calibrated"),
    Config("rules-own", {"calibration": "off"}, help="the rules with their own threshold (RAG_MIN_CONFIDENCE), no calibrator: before calibration"),
    Config("reader-own", {"reader": "model", "calibration": "off"}, help="the reader with its own thresholds, no calibrator"),
    Config("dense", {"retrieval": "dense"}, help="e5-small dense only"),
    Config("bm25", {"retrieval": "bm25"}, help="BM25 only (French + English stems)"),
    Config("minilm-hybrid", {"embeddings": "minilm"}, help="all-MiniLM-L6-v2 dense + BM25"),
    Config("minilm-dense", {"embeddings": "minilm", "retrieval": "dense"}, help="all-MiniLM-L6-v2 dense only"),
    Config("tutorial", {"embeddings": "minilm", "retrieval": "dense", "top_k": 4}, tutorial=True,
           help="LangChain quick start: Chroma + MiniLM, top-4 similarity, top passage as the answer, no abstention"),
]


def tutorial_answer(pipeline: Pipeline, question: str) -> tuple[list, Answer]:
    """What the LangChain quick start gives: the top similar chunk, shown as the answer."""
    hits = pipeline.retrieve(question, k=4, mode="dense")
    if not hits:
        return hits, Answer(text="", abstained=True)
    top = hits[0]
    cite = Citation(1, top.source, top.title, top.date, top.text, top.text, (0, len(top.text)), (top.start, top.end), top.score)
    return hits, Answer(text=f"{top.text} [1]", citations=(cite,), confidence=1.0, answerer="tutorial")


def indexed(config: Config, base: Settings, log, extra_docs: tuple[Path, ...] = ()) -> Settings:
    """The configuration's settings, its corpus indexed (an index per corpus and embedder, under the data folder's
    eval/); `extra_docs`: more folders in the index (the team's knowledge entries, for `--cases desk`), in an index of its own."""
    settings = base.replace(**config.overrides)
    embedder = settings.embeddings.replace(":", "_").replace("/", "_")
    corpus = "" if settings.docs == Path("seeds") else "-" + hashlib.sha1(str(settings.docs.resolve()).encode()).hexdigest()[:8]
    settings = settings.replace(collection=f"eval-{embedder}{corpus}", data_dir=base.data_dir / "eval")
    if extra_docs:
        settings = settings.replace(collection=settings.collection + "-desk")
    report = ingest([settings.docs, *extra_docs], settings, log=lambda _msg: None, progress=False)
    log(f"[{config.name}] index: {report.summary()}")
    return settings


def run_config(config: Config, cases, base: Settings, log, extra_docs: tuple[Path, ...] = ()) -> list[Record]:
    settings = indexed(config, base, log, extra_docs)
    pipeline = Pipeline(settings).warm_up()
    if pipeline.decision is not None:
        d = pipeline.decision
        log(f"[{config.name}] calibrated: answer at P >= {d.answer_at:.3f}, closest passages at P >= {d.closest_at:.3f} "
            f"(targets {settings.target_precision}, {settings.closest_precision})")
    records = []
    for case in cases:
        history = list(case.history)
        started = time.perf_counter()
        if config.tutorial:
            hits, answer = tutorial_answer(pipeline, case.question)
        else:
            answer = pipeline.ask(case.question, history=history)
            hits = pipeline.retrieve(standalone_question(case.question, history), k=5)
        ms = (time.perf_counter() - started) * 1000 if config.tutorial else answer.timings.get("total_ms", 0.0)
        stages = {k: v for k, v in answer.timings.items() if k != "total_ms"}
        records.append(Record(case, hits, answer, ms, stages))
    return records


def markdown(results: dict, extra: dict) -> str:
    """results: case file -> config -> {metrics, failures}; extra: other columns (the 'before' run, the dev split)."""
    lines = ["# Evaluation", ""]
    for path, by_config in results.items():
        names = list(by_config)
        before = extra.get("before", {}).get(Path(path).stem, {})
        head = names + [f"before: {n}" for n in before]
        lines += [f"## `{path}`", "", "| metric | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for key in KEYS:
            values = [by_config[n]["metrics"][key] for n in names] + [before[n].get(key, "") for n in before]
            lines.append(f"| {key} | " + " | ".join(f"{v:g}" if isinstance(v, float | int) else str(v) for v in values) + " |")
        lines.append("")
    lines += rc_table(results)
    if "dev_split" in extra:
        dev = extra["dev_split"]
        keys = [k for k in dev["reader"] if k in dev["rules"]]
        lines += ["## Public dev split (PIAF + SQuAD 2.0 articles held out of training: `eval/dev_split.py`)", "",
                  "| metric | reader | rules |", "|---|---|---|"]
        lines += [f"| {k} | {dev['reader'][k]:g} | {dev['rules'][k]:g} |" for k in keys]
        lines.append("")
    lines += ["Configurations:", ""] + [f"- **{c.name}**: {c.help}" for c in CONFIGS if any(c.name in r for r in results.values())]
    for path, by_config in results.items():
        for name, r in by_config.items():
            fails = r["failures"]
            lines += ["", f"## Failures: {name} on `{path}` ({len(fails)})", ""]
            for f in fails:
                lines += [
                    f"- **{f['id']}** ({f['expect']}; wrong: {', '.join(f['wrong'])}): {f['question']}",
                    f"  - expected: {' | '.join(f['expected']) or '-'}",
                    f"  - answered (confidence {f['confidence']}, handoff {f['handoff']}): {f['answer'][:300]}",
                ] + [f"  - retrieved: {r}" for r in f["retrieved"]]
    return "\n".join(lines) + "\n"


def calibrate(paths: list[Path], config: Config, base: Settings, out: Path, log) -> int:
    """Fit a calibrator on the cases (every would-be answer, ungated) and write it where RAG_CALIBRATION will read it."""
    cases = [c for p in paths for c in load_cases(p) if c.expect != "handoff"]
    records = run_config(config, cases, base.replace(calibration="none"), log)
    rows = [(r.answer.signals, would_be_right(r)) for r in records if r.answer.signals]
    if len({right for _, right in rows}) < 2:
        raise RelaisError(f"--calibrate needs cases answered right and wrong ({len(rows)} with an answer): add cases")
    names = tuple(sorted({k for s, _ in rows for k in s}))
    reader = config.overrides.get("reader", base.reader)
    about = {"answerer": "reader" if reader == "model" else reader, "fitted_on": [str(p) for p in paths],
             "embeddings": config.overrides.get("embeddings", base.embeddings),
             "made_by": "python eval/run.py --calibrate"}
    x, y = [[s.get(k, 0.0) for k in names] for s, _ in rows], [int(r) for _, r in rows]
    held = cross_validated(x, y, names, base.target_precision)
    calibrator = fit(x, y, names, {**about, "cross_validated": held})
    calibrator.save(out)
    at = calibrator.threshold(base.target_precision)
    print(f"calibration: {len(rows)} cases ({int(calibrator.right.sum())} right) -> {out}; at RAG_TARGET_PRECISION="
          f"{base.target_precision}, answers at P >= {at:.3f}; start the app with RAG_CALIBRATION={out}")
    precision = held["precision"]
    print(f"cross-validated ({held['folds']} folds, each answered by a fit on the others): {held['shown']} of {len(rows)} "
          f"answers shown, {'none' if precision is None else f'{precision:.2f}'} right (target {base.target_precision})")
    if precision is None or precision < base.target_precision - 0.05:
        print("warning: on cases the fit did not see, this threshold does not reach the target: the calibration is too "
              "optimistic for new questions. Add cases, above all questions worded as your users word them (not as the "
              "documents are), and calibrate again; meanwhile the shipped calibrator (unset RAG_CALIBRATION) may hold better.")
    return 0


def rc_table(results: dict) -> list[str]:
    """The risk-coverage report: the operating point each configuration has, and its curve's area."""
    about = ("Precision of the answers shown (an off-corpus question answered counts as wrong) and coverage (the share of "
             "answerable questions answered); AURC: the mean risk over every cut of the answers ranked by confidence "
             "(lower is better). Closest: share of questions given the closest passages instead of an answer; right: share of "
             "the answerable ones among them where a card's passage holds the answer.")
    lines = ["## Risk and coverage", "", about, "",
             "| cases | configuration | shown precision | coverage | closest | closest, right | AURC |", "|---|---|---|---|---|---|---|"]
    for path, by_config in results.items():
        for name, r in by_config.items():
            m = r["metrics"]
            lines.append(f"| {Path(path).stem} | {name} | {m['shown_precision']:g} | {m['coverage']:g} | {m['closest_shown']:g} | {m.get('closest_right', 0):g} | {m['aurc']:g} |")
    return lines + [""]


def rc_chart(curves: dict, path: Path) -> None:
    """Precision of the answers shown against coverage, per case file and configuration, operating points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for ax, (cases, by_config) in zip(axes[0], curves.items()):
        for name, (curve, point) in by_config.items():
            line = ax.plot([c for c, _, _ in curve], [p for _, p, _ in curve], label=name)[0]
            ax.plot([point[0]], [point[1]], "o", color=line.get_color())
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("coverage (answerable questions answered)")
        ax.set_ylabel("precision of the answers shown")
        ax.set_title(Path(cases).name)
        ax.legend(fontsize=7)
    fig.suptitle("Risk-coverage: answering by decreasing confidence (dots: where each configuration answers)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["hit_at_5", "answer_accuracy", "citation_precision", "abstain_accuracy", "false_abstain_rate", "handoff_recall"]
    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), squeeze=False)
    for ax, (cases, by_config) in zip(axes[0], results.items()):
        names = list(by_config)
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            ax.bar([k + i * width for k in range(len(keys))], [by_config[name]["metrics"][k] for k in keys], width, label=name)
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys, rotation=20, fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(Path(cases).name)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Relais evaluation: configurations side by side (false_abstain_rate: lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run evaluation cases through Relais configurations.")
    parser.add_argument("--cases", type=Path, action="append", required=True,
                        help="JSON Lines case file (repeatable); `desk`: the cases saved from the desk, with and without the team's answers")
    parser.add_argument("--config", action="append", choices=[c.name for c in CONFIGS] + ["llm", "llm-own", "llm-ungated"],
                        help="configurations to run (repeatable; default: all, plus llm when RAG_LLM is set)")
    parser.add_argument("--docs", type=Path, help="the documents the cases ask about (default: RAG_DOCS, seeds/); each folder gets its own index")
    parser.add_argument("--json", type=Path, help="write the metrics as JSON here")
    parser.add_argument("--report", type=Path, help="write report.md and chart.png into this folder")
    parser.add_argument("--gate", type=Path, help="fail (exit 1) when a file's first config falls below the baseline JSON's entry for it")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help=f"gate tolerance (default {TOLERANCE})")
    parser.add_argument("--dev-split", type=Path, help="eval/dev_split.py's JSON, shown in the report")
    parser.add_argument("--before", type=Path, help="a JSON of earlier runs ({file stem: {config: metrics}}), shown beside")
    parser.add_argument("--calibrate", type=Path, metavar="FILE",
                        help="fit a calibrator on the cases (first configuration) and write it to FILE (then RAG_CALIBRATION=FILE)")
    args = parser.parse_args(argv)
    if args.calibrate and any("heldout" in p.name for p in args.cases):
        parser.error("never calibrate on the held-out file: pass tuning cases, or your own")
    log = lambda msg: print(msg, file=sys.stderr)
    try:
        env, _ = serve_for(Settings.from_env())  # RAG_LLM=local: llama.cpp's server for the llm configuration (stopped at exit)
        base = env.replace(llm="", **({"docs": args.docs} if args.docs else {}))  # LLM-free except the llm configurations
        configs = list(CONFIGS)
        if env.llm:
            configs.append(Config("llm", {"llm": env.llm}, help=f"opt-in LLM answerer {env.llm}, calibrated like the default"))
            configs.append(Config("llm-own", {"llm": env.llm, "calibration": "off"},
                                  help=f"{env.llm} gated by the rules' own threshold: called far more often"))
            configs.append(Config("llm-ungated", {"llm": env.llm, "calibration": "none"},
                                  help=f"{env.llm} called on every question, no gate (its fallback, the extractive answer, ungated too)"))
        if args.config:
            configs = [c for c in configs if c.name in args.config]
            if not configs:
                raise RelaisError("config llm needs RAG_LLM (and RAG_LLM_BASE_URL): see the README")
        if args.calibrate:
            return calibrate(args.cases, configs[0], base, args.calibrate, log)
        results: dict[str, dict] = {}
        curves: dict[str, dict] = {}
        for path, extra_docs in desk_sets(args.cases, base):  # `--cases desk`: the desk's own cases (eval/desk_cases.py)
            cases = load_cases(path)
            results[str(path)], curves[str(path)] = {}, {}
            for config in configs:
                records = run_config(config, cases, base, log, extra_docs)
                metrics = compute(records)
                results[str(path)][config.name] = {"metrics": metrics, "failures": failures(records)}
                curves[str(path)][config.name] = (risk_coverage(records), (metrics["coverage"], metrics["shown_precision"]))
    except (CaseError, RelaisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {}
    for path, by_config in results.items():
        first = next(iter(by_config))
        summary[Path(path).stem] = {"cases": path, "config": first, **{k: by_config[first]["metrics"][k] for k in KEYS},
                                    "configs": {n: r["metrics"] for n, r in by_config.items()}, "failures": by_config[first]["failures"]}
        for name, r in by_config.items():
            m = r["metrics"]
            print(f"{Path(path).stem:>8} {name:>14}: " + "  ".join(f"{k}={m[k]:g}" for k in KEYS[1:]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if args.report:
        extra = {}
        if args.dev_split and args.dev_split.exists():
            extra["dev_split"] = json.loads(args.dev_split.read_text())
        if args.before and args.before.exists():
            extra["before"] = json.loads(args.before.read_text())
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "report.md").write_text(markdown(results, extra))
        chart(results, args.report / "chart.png")
        rc_chart(curves, args.report / "risk-coverage.png")
        print(f"report: {args.report / 'report.md'}, charts: {args.report / 'chart.png'}, {args.report / 'risk-coverage.png'}")
    if args.gate:
        baseline = json.loads(args.gate.read_text())
        failed = []
        for path, by_config in results.items():
            stem, first = Path(path).stem, next(iter(by_config))
            if stem not in baseline:
                failed.append(f"{stem}: no entry in {args.gate}")
                continue
            failed += [f"{stem} ({first}): {line}" for line in regressions(by_config[first]["metrics"], baseline[stem], args.tolerance)]
        if failed:
            print(f"GATE FAILED (vs {args.gate}):\n  " + "\n  ".join(failed))
            return 1
        print(f"gate passed: within {args.tolerance} of {args.gate} on every quality metric of " + ", ".join(Path(p).stem for p in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
