"""Idempotent, incremental ingest: load, split, embed only what is new, then drop what is stale."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import Piece, split
from .documents import SUPPORTED, SkipFile, load
from .embeddings import make_embeddings
from .errors import RelaisError
from .injection import flag
from .settings import Settings
from .vector_store import Store

BATCH = 32


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    suspicious: list[tuple[str, str, str]] = field(default_factory=list)  # (path, sentence, reason), see rag/injection.py
    seconds: float = 0.0
    version: str = ""

    def summary(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        line = (
            f"{self.files} files{skipped}: {self.added} added, {self.removed} removed, {self.unchanged} unchanged "
            f"chunks ({self.embedded} texts embedded, {self.seconds:.1f}s)"
        )
        if not self.suspicious:
            return line
        flagged = "".join(f"\n  {path}: «{sentence[:160]}» ({reason})" for path, sentence, reason in self.suspicious)
        return (f"{line}\n{len(self.suspicious)} suspicious sentences, never quoted as answers (review or remove them):"
                f"{flagged}")


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to read under the given paths (sorted), and the unsupported ones found while walking."""
    files, unsupported = [], []
    for root in paths:
        if not root.exists():
            raise RelaisError(f"{root} does not exist: give a file or a folder of .txt, .md, .html or .pdf files")
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            if path.name.startswith("."):
                continue
            if path.suffix.lower() in SUPPORTED or root.is_file():
                files.append(path)
            else:
                unsupported.append((display_path(path), f"unsupported type {path.suffix or '(none)'}: use .txt, .md, .html or .pdf"))
    return files, unsupported


def ingest(
    paths: list[Path],
    settings: Settings,
    reset: bool = False,
    log: Callable[[str], None] = print,
    progress: bool | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`; safe to interrupt and re-run."""
    started = time.perf_counter()
    report = IngestReport()
    embeddings = make_embeddings(settings.embeddings)
    store = Store(settings, embeddings)
    if reset:
        store.reset()
    store.open(create=True)
    if reset or store.count() == 0:  # readers would find nothing until the end: they say the index is being built
        store.mark_building()

    files, report.skipped = discover(paths)
    docs = []
    for path in files:
        try:
            docs.append(load(path, max_bytes=int(settings.max_file_mb * 1e6), stored_path=display_path(path)))
        except SkipFile as reason:
            report.skipped.append((display_path(path), str(reason)))
    for path, reason in report.skipped:
        log(f"skipped {path}: {reason}")
    report.files = len(docs)

    stored = {which: _by_path(store, which) for which in ("chunks", "sentences")}
    wanted: dict[str, list[Piece]] = {"chunks": [], "sentences": []}
    for doc in docs:
        chunks, sentences = split(doc, settings.chunk_size, settings.chunk_overlap)
        for sentence in sentences:
            if reason := flag(sentence.text):
                sentence.metadata["suspicious"] = reason
                report.suspicious.append((doc.path, sentence.text, reason))
                log(f"suspicious sentence in {doc.path} ({reason}): «{sentence.text[:160]}»")
        wanted["chunks"] += chunks
        wanted["sentences"] += sentences

    roots = [p.resolve() for p in paths]
    skipped_paths = {p for p, _ in report.skipped}
    plan = {}
    for which in ("chunks", "sentences"):
        have = {id_ for ids in stored[which].values() for id_ in ids}
        want_ids = {p.id for p in wanted[which]}
        new = [p for p in wanted[which] if p.id not in have]
        # Under the ingested roots, a file read now keeps only its current pieces and a file gone from disk
        # loses all of its pieces; a file skipped this time (unreadable, say) keeps what it had.
        stale = [
            id_
            for path, ids in stored[which].items()
            if path not in skipped_paths and _under(path, roots)
            for id_ in ids
            if id_ not in want_ids
        ]
        plan[which] = (new, stale)
    new_chunks, stale_chunks = plan["chunks"]
    report.added, report.removed = len(new_chunks), len(stale_chunks)
    report.unchanged = len(wanted["chunks"]) - len(new_chunks)

    texts = [p for which in ("chunks", "sentences") for p in plan[which][0]]
    vectors = _embed(embeddings, texts, progress)
    report.embedded = len(texts)
    # Write everything new before deleting anything stale: an interruption never leaves a file without text.
    offset = 0
    for which in ("chunks", "sentences"):
        new = plan[which][0]
        store.upsert(which, [p.id for p in new], [p.text for p in new], [p.metadata for p in new], vectors[offset : offset + len(new)])
        offset += len(new)
    for which in ("chunks", "sentences"):
        store.delete(which, plan[which][1])
    report.version = store.stamp_version()
    report.seconds = time.perf_counter() - started
    return report


def display_path(path: Path) -> str:
    """Path as stored: relative to the working folder when inside it, so a moved checkout keeps its ids."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def _by_path(store: Store, which: str) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for id_, path in store.ids_and_paths(which):
        grouped[path].add(id_)
    return grouped


def _under(path: str, roots: list[Path]) -> bool:
    resolved = Path(path).resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def _embed(embeddings, pieces: list[Piece], progress: bool | None) -> list[list[float]]:
    if not pieces:
        return []
    from tqdm import tqdm

    out: list[list[float]] = []
    with tqdm(total=len(pieces), desc="embedding", unit="text", disable=None if progress is None else not progress) as bar:
        for i in range(0, len(pieces), BATCH):
            batch = [p.text for p in pieces[i : i + BATCH]]
            out.extend(embeddings.embed_documents(batch))
            bar.update(len(batch))
    return out
