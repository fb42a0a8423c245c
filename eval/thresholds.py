"""python eval/thresholds.py [--cases eval/cases/tuning.jsonl]

Where the reader should stop answering: runs the tuning cases with the reader and no threshold, then, for the
same-language scorer and the cross-language one apart, prints each threshold's answer accuracy, false
abstentions and off-corpus abstentions on the cases that scorer decided, and the threshold with the best
balanced accuracy. The chosen values go into training/reader/train.py's THRESHOLDS. Never run it on held-out.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.cases import load_cases
from eval.metrics import correct
from eval.run import Config, run_config
from rag.reader import scorer as scorers
from rag.settings import Settings
from rag.text import language


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=Path("eval/cases/tuning.jsonl"))
    args = parser.parse_args(argv)
    if "heldout" in args.cases.name:
        parser.error("thresholds are never chosen on the held-out file")
    load = scorers.Scorer.load
    scorers.Scorer.load = classmethod(lambda cls, path: dataclasses.replace(load(path), threshold=0.0))
    records = run_config(Config("reader", {"reader": "model", "min_confidence": 0.0}), load_cases(args.cases),
                         Settings.from_env(), log=lambda _m: None)
    rows = []  # (cross-language, expects an answer, confidence, right)
    for r in records:
        if r.case.expect not in ("answer", "abstain") or not r.answer.citations:
            continue
        cross = language(r.case.question) != language(r.answer.citations[0].sentence)
        rows.append((cross, r.case.expect == "answer", r.answer.confidence, correct(r)))
    for cross, name in ((False, scorers.SAME_LANGUAGE), (True, scorers.CROSS_LANGUAGE)):
        mine = [x for x in rows if x[0] == cross]
        answerable, off = [x for x in mine if x[1]], [x for x in mine if not x[1]]
        print(f"{name}: {len(answerable)} answerable, {len(off)} off-corpus cases")
        best = (-1.0, 0.0)
        for t in sorted({round(x[2], 3) for x in mine} | {0.0}):
            accuracy = sum(x[3] and x[2] >= t for x in answerable) / max(1, len(answerable))
            false_abstain = sum(x[2] < t for x in answerable) / max(1, len(answerable))
            abstain = sum(x[2] < t for x in off) / max(1, len(off))
            print(f"  threshold {t:.3f}: accuracy {accuracy:.3f}  false abstain {false_abstain:.3f}  abstain {abstain:.3f}")
            best = max(best, ((accuracy + abstain) / 2, t))
        print(f"  best balanced accuracy {best[0]:.3f} at threshold {best[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
