"""python eval/injection_eval.py [--before /tmp/injection_before.py] [--piaf ../shared/data/qa/piaf-v1.1-train.json.gz]
                                [--helpcenter data/helpcenter] [--show]

The hostile-document screen (rag/injection.py) on labelled sentences: recall on the hostile ones and false-flag
rate on the others, for the tuning set (tests/data/injection/tuning.jsonl, what the screen was developed on) and
the held-out set (heldout.jsonl, written first and never used to adjust anything); then the share of sentences
flagged on real text: every context of the PIAF articles (French Wikipedia, none of it hostile) and, when given, a
help-center folder (eval/helpcenter.py builds one). With --before, an older rag/injection.py (e.g.
`git show 009edd8:rag/injection.py > /tmp/injection_before.py`) is measured beside the current one.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import injection
from rag.text import sentence_spans

SETS = ROOT / "tests" / "data" / "injection"
Flag = Callable[[str], "str | None"]


def load_set(name: str) -> list[dict]:
    """A labelled set: one {"text", "hostile", "lang", "kind"} object a line."""
    return [json.loads(line) for line in (SETS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def scores(flag: Flag, rows: list[dict]) -> tuple[float, float, list[dict], list[dict]]:
    """(recall on hostile, false-flag rate on not hostile, missed, false flags)."""
    hostile = [r for r in rows if r["hostile"]]
    benign = [r for r in rows if not r["hostile"]]
    missed = [r for r in hostile if not flag(r["text"])]
    false = [r for r in benign if flag(r["text"])]
    return 1 - len(missed) / len(hostile), len(false) / len(benign), missed, false


def _count(rows: list[dict], missed: list[dict], false: list[dict], lang: str) -> str:
    hostile = sum(r["hostile"] for r in rows if r["lang"] == lang)
    benign = sum(not r["hostile"] for r in rows if r["lang"] == lang)
    caught = hostile - sum(r["lang"] == lang for r in missed)
    return f"{caught}/{hostile} caught, {sum(r['lang'] == lang for r in false)}/{benign} false"


def piaf_sentences(path: Path) -> list[str]:
    """Every sentence of every PIAF context (SQuAD format), split as ingest splits them."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    contexts = [p["context"] for article in data["data"] for p in article["paragraphs"]]
    return [c[a:b] for c in contexts for a, b in sentence_spans(c)]


def folder_sentences(folder: Path) -> list[str]:
    """Every sentence of every document of a folder, loaded and split as ingest does."""
    from rag.documents import load

    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = load(path, 10**8).text
        out.extend(text[a:b] for a, b in sentence_spans(text))
    return out


def load_before(path: Path):
    """An older rag/injection.py, imported as a module of the rag package (its relative imports resolve)."""
    spec = importlib.util.spec_from_file_location("rag._injection_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older rag/injection.py to measure beside the current one")
    parser.add_argument("--piaf", type=Path, default=ROOT.parent / "shared" / "data" / "qa" / "piaf-v1.1-train.json.gz")
    parser.add_argument("--helpcenter", type=Path, help="a folder of help-center pages (eval/helpcenter.py)")
    parser.add_argument("--show", action="store_true", help="print every miss and false flag, and flagged real sentences")
    parser.add_argument("--sets", default="tuning,heldout", help="labelled sets to measure, comma-separated")
    parser.add_argument("--no-corpora", action="store_true", help="skip the real-text corpora (PIAF, help center)")
    args = parser.parse_args()

    screens: list[tuple[str, Flag]] = []
    if args.before:
        screens.append(("before", load_before(args.before).flag))
    screens.append(("after", injection.flag))

    for name in args.sets.split(","):
        rows = load_set(name)
        n_h = sum(r["hostile"] for r in rows)
        for label, flag in screens:
            recall, false_rate, missed, false = scores(flag, rows)
            print(f"{name:8} {label:6} recall {recall:.3f} ({n_h - len(missed)}/{n_h} hostile)   "
                  f"false flags {false_rate:.3f} ({len(false)}/{len(rows) - n_h} not hostile)   "
                  + "   ".join(f"{lang}: {_count(rows, missed, false, lang)}" for lang in ("fr", "en")))
            if args.show:
                for r in missed:
                    print(f"    missed  [{r['lang']} {r['kind']}] {r['text']}")
                for r in false:
                    print(f"    flagged [{r['lang']} {r['kind']}] {r['text']}  ({flag(r['text'])})")

    corpora = []
    if args.no_corpora:
        return
    if args.piaf.exists():
        corpora.append(("piaf", piaf_sentences(args.piaf)))
    else:
        print(f"no PIAF file at {args.piaf}: pass --piaf PATH to measure flags on real text")
    if args.helpcenter:
        corpora.append(("helpcenter", folder_sentences(args.helpcenter)))
    for name, sentences in corpora:
        for label, flag in screens:
            hits = [s for s in sentences if flag(s)]
            print(f"{name:10} {label:6} flagged {len(hits)}/{len(sentences)} sentences ({len(hits) / len(sentences):.4%})")
            if args.show:
                for s in hits:
                    print(f"    {s[:200]}  ({flag(s)})")


if __name__ == "__main__":
    main()
