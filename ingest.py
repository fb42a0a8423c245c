"""python ingest.py [PATH ...] [--reset]: index documents (default: RAG_DOCS, i.e. seeds/) into Chroma."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.errors import RelaisError
from rag.indexing import ingest
from rag.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (.txt, .md, .html, .pdf)")
    parser.add_argument("--reset", action="store_true", help="drop the index first and rebuild it from scratch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or progress lines, only the summary")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        report = ingest(args.paths or settings.ingest_paths(), settings, reset=args.reset, progress=False if args.quiet else None)
    except RelaisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the index is consistent; run the same command again to finish", file=sys.stderr)
        return 130
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
