"""The benchmarks' shared output: one markdown table, printed and written to a results file."""

from __future__ import annotations

from pathlib import Path


def write_table(path: Path, columns: dict[str, str], rows: list[dict]) -> str:
    """`columns` maps each heading to its key in the rows."""
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(str(r[key]) for key in columns.values()) + " |" for r in rows]
    table = "\n".join(lines)
    path.write_text(table + "\n")
    print(table)
    return table
