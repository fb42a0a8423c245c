"""python -m training.intents [--messages FILE] [--heldout FILE] [--out rag/intents.json]

Fits the learned half of the "sensitive" intent (rag/intents.py): a logistic regression over the message's e5 vector
(the one retrieval computes anyway), P(a person should handle this: distress, a complaint or dispute with the company,
fraud suffered, the user's own account or file). Patterns name the explicit formulas; on messages written by someone
who had not read them they caught 17 of 40 situations (eval/intents-heldout.jsonl), so the meaning decides too.

Fitted on training/data/intents/messages.jsonl (135 messages a helper wrote for a labour-law help center, before the
patterns were revised on them) and the ordinary questions and handoff cases of the tuning files; never on the held-out
files, which are the report. The L2 strength is the one with the best cross-validated log-loss; the threshold is
derived from a target: the lowest P whose cross-validated false handoffs stay within FALSE_HANDOFFS of the ordinary
questions (a question for the pages handed to a person is a failure the user sees; a missed situation still has the
offer of a person under every answer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eval.cases import load_cases
from rag import intents
from rag.calibration import _sigmoid, newton_logistic
from rag.embeddings import make_embeddings
from rag.intents import situation

MESSAGES = Path(__file__).parent / "data" / "intents" / "messages.jsonl"
TUNING = (Path("eval/cases/tuning.jsonl"), Path("eval/cases/helpcenter-tuning.jsonl"))
HELDOUT = Path("eval/intents-heldout.jsonl")
REPORT_CASES = (Path("eval/cases/heldout.jsonl"), Path("eval/cases/helpcenter-heldout.jsonl"))
FALSE_HANDOFFS = 0.01  # the target: share of ordinary questions (out of fold) the learned half may hand off
L2 = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
FOLDS = 5


def messages(path: Path) -> list[tuple[str, bool]]:
    """(message, a person should handle it) of a messages file: {"message", "expect": "sensitive" | "none"} lines."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not a JSON object ({e.msg}): one message per line") from None
            if not isinstance(row, dict) or row.get("expect") not in ("sensitive", "none") or not str(row.get("message", "")).strip():
                raise SystemExit(f"{path}:{number}: needs a \"message\" and \"expect\": \"sensitive\" or \"none\"")
            out.append((row["message"], row["expect"] == "sensitive"))
    return out


def case_messages(paths) -> list[tuple[str, bool]]:
    """The eval cases' questions: ordinary ones (answer, abstain) and the handoffs that are situations, not requests."""
    out = []
    for path in paths:
        for case in load_cases(path):
            if case.expect != "handoff":
                out.append((case.question, False))
            elif intents.requested(case.question) is None:
                out.append((case.question, True))
    return out


def out_of_fold(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    fold = np.arange(len(y)) % FOLDS
    p = np.zeros(len(y))
    for k in range(FOLDS):
        w, b = newton_logistic(x[fold != k], y[fold != k], l2)
        p[fold == k] = _sigmoid(x[fold == k] @ w + b)
    return p


def threshold(p: np.ndarray, y: np.ndarray, target: float) -> float:
    """The lowest P whose share of ordinary messages at or above it stays within the target."""
    ordinary = np.sort(p[y == 0])[::-1]
    allowed = int(np.floor(target * len(ordinary)))
    return float(min(0.999, np.nextafter(ordinary[allowed], 1.0))) if allowed < len(ordinary) else 0.5


def figures(flags: list[bool], y: list[bool]) -> dict:
    return {"situations caught": f"{sum(f and t for f, t in zip(flags, y))} of {sum(y)}",
            "false handoffs": f"{sum(f and not t for f, t in zip(flags, y))} of {sum(not t for t in y)}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=Path, default=MESSAGES)
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--out", type=Path, default=intents.WEIGHTS)
    args = parser.parse_args(argv)
    embedder = make_embeddings("e5-small")
    train = messages(args.messages) + case_messages(TUNING)
    x = np.asarray([embedder.embed_query(m) for m, _ in train], dtype=np.float64)
    y = np.asarray([s for _, s in train], dtype=np.float64)
    losses = {}
    for l2 in L2:
        p = np.clip(out_of_fold(x, y, l2), 1e-6, 1 - 1e-6)
        losses[l2] = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    l2 = min(losses, key=losses.get)
    p = out_of_fold(x, y, l2)
    at = threshold(p, y, FALSE_HANDOFFS)
    w, b = newton_logistic(x, y, l2)
    learned = intents.Learned(w, b, at, embedder.name)
    about = {"made_by": "python -m training.intents", "messages": len(train), "situations": int(y.sum()),
             "l2": l2, "cross_validated_log_loss": {str(k): round(v, 4) for k, v in losses.items()},
             "false_handoffs_target": FALSE_HANDOFFS,
             "cross_validated": figures([bool(v >= at) for v in p], [bool(t) for t in y])}
    about["held_out"] = {}
    for path in (args.heldout, *REPORT_CASES):
        held = messages(path) if path == args.heldout else case_messages([path])
        truth = [s for _, s in held]
        patterns = [situation(m) for m, _ in held]
        meaning = [learned.probability(embedder.embed_query(m)) >= at for m, _ in held]
        about["held_out"][str(path)] = {"patterns": figures(patterns, truth), "learned": figures(meaning, truth),
                                        "either (shipped)": figures([a or b for a, b in zip(patterns, meaning)], truth)}
    args.out.write_text(json.dumps({"about": about, **learned.as_json()}, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(about, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
