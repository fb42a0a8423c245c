"""python -m training.similar [--cases eval/cases/tuning.jsonl] [--database URL] [--embeddings e5-small]

Fits when two questions ask the same thing (rag/similar.py: the space and the threshold) on labelled pairs: the tuning
cases' twins (never the held-out cases) and, with --database, the desk's own eval cases; writes rag/similar.json,
which the content gaps (rag/desk/gaps.py) and the saved answers served first (rag/saved.py) read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.similar import FITTED, fit_space, labelled_pairs


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from rag.embeddings import make_embeddings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--cases", default="eval/cases/tuning.jsonl", help="tuning cases (never the held-out ones)")
    parser.add_argument("--database", default="", help="also the desk's eval cases of this database (path or URL)")
    parser.add_argument("--embeddings", default="e5-small")
    args = parser.parse_args(argv)
    cases = [json.loads(line) for line in Path(args.cases).read_text(encoding="utf-8").splitlines() if line.strip()]
    same, different = labelled_pairs(cases)
    if args.database:
        from rag.desk.database import Database
        from rag.desk.evalcases import desk_pairs

        db = Database(args.database)
        desk_same, desk_different = desk_pairs(db, [c["question"] for c in cases])
        same, different = same + desk_same, different + desk_different
        db.close()
    embedder = make_embeddings(args.embeddings)
    texts = sorted({q for pair in same + different for q in pair})
    vectors = {t: np.asarray(embedder.embed_query(t), dtype=float) for t in texts}
    space = fit_space(vectors, same, different)
    fitted = json.loads(FITTED.read_text(encoding="utf-8")) if FITTED.is_file() else {}
    fitted[embedder.name] = {"threshold": space.threshold, "about": {**space.about, "cases": args.cases, "desk": bool(args.database)},
                             "mean": [round(float(x), 6) for x in space.mean],
                             "drop": [[round(float(x), 6) for x in row] for row in space.drop]}
    FITTED.write_text(json.dumps(fitted) + "\n", encoding="utf-8")
    a = space.about
    print(f"{embedder.name}: threshold {space.threshold} after removing {a['dropped']} directions ({a['same']} same pairs, "
          f"recall {a['recall']}; {a['different']} different pairs, the closest at {a['closest_different']}; the farthest "
          f"same pair at {a['farthest_same']}) -> {FITTED}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
