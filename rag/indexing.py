"""Idempotent, incremental ingest: load, split, embed only what is new, then drop what is stale."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .chunking import Piece, search_text, split
from .documents import SUPPORTED, SkipFile, load
from .embeddings import make_embeddings
from .errors import RelaisError
from .injection import flag
from .settings import Settings
from .vector_store import Store

WINDOW = 512  # texts embedded, then stored, together: the embedder sorts a window by length into batches


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


@dataclass(frozen=True)
class Todo:
    """A piece to embed and store: which collection, and the index of its document (for progress by file)."""

    doc: int
    which: str
    piece: Piece


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
    log: Callable[[str], None] | None = None,
    progress: bool | None = None,
    embeddings: Embeddings | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`; safe to interrupt and re-run.

    `progress`: a bar (True), nothing (False), or a bar on a terminal and log lines otherwise (None).
    `embeddings`: an embedder already loaded (default: the one RAG_EMBEDDINGS names)."""
    started = time.perf_counter()
    log = log or _say
    report = IngestReport()
    embeddings = embeddings or make_embeddings(settings.embeddings)
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
    by_doc: list[tuple[list[Piece], list[Piece]]] = []
    for doc in docs:
        chunks, sentences = split(doc, settings.chunk_size, settings.chunk_overlap)
        for sentence in sentences:
            if reason := flag(sentence.text):
                sentence.metadata["suspicious"] = reason
                report.suspicious.append((doc.path, sentence.text, reason))
                log(f"suspicious sentence in {doc.path} ({reason}): «{sentence.text[:160]}»")
        wanted["chunks"] += chunks
        wanted["sentences"] += sentences
        by_doc.append((chunks, sentences))

    roots = [p.resolve() for p in paths]
    skipped_paths = {p for p, _ in report.skipped}
    stale = {}
    for which in ("chunks", "sentences"):
        want_ids = {p.id for p in wanted[which]}
        # Under the ingested roots, a file read now keeps only its current pieces and a file gone from disk
        # loses all of its pieces; a file skipped this time (unreadable, say) keeps what it had.
        stale[which] = [
            id_
            for path, ids in stored[which].items()
            if path not in skipped_paths and _under(path, roots)
            for id_ in ids
            if id_ not in want_ids
        ]
    have = {which: {id_ for ids in stored[which].values() for id_ in ids} for which in stored}
    # New pieces document by document, its chunks beside its sentences: what an interrupted run stored is whole.
    todo = [Todo(i, which, p) for i, (c, s) in enumerate(by_doc) for which, pieces in (("chunks", c), ("sentences", s))
            for p in pieces if p.id not in have[which]]
    report.added = sum(t.which == "chunks" for t in todo)
    report.removed = len(stale["chunks"])
    report.unchanged = len(wanted["chunks"]) - report.added
    report.embedded = _embed_and_store(store, embeddings, todo, Progress(todo, log, progress))
    # Everything new is written before anything stale goes: an interruption never leaves a file without text.
    for which in ("chunks", "sentences"):
        store.delete(which, stale[which])
    report.version = store.stamp_version()
    report.seconds = time.perf_counter() - started
    return report


def _say(message: str) -> None:
    print(message, flush=True)  # flushed: a log file or a pipe shows each line as it comes, not at the end


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


def _embed(embeddings, pieces: list[Piece]) -> list[list[float]]:
    return embeddings.embed_documents([search_text(p.text, p.metadata) for p in pieces]) if pieces else []


def _embed_and_store(store: Store, embeddings, todo: list[Todo], progress: Progress) -> int:
    """Embed the new pieces a window at a time (the embedder sorts each window by length) and store each window
    as soon as it is embedded: an interrupted run keeps what it stored, and the re-run embeds only the rest."""
    for start in range(0, len(todo), WINDOW):
        window = todo[start : start + WINDOW]
        vectors = _embed(embeddings, [t.piece for t in window])
        for which in ("chunks", "sentences"):
            rows = [(t.piece, v) for t, v in zip(window, vectors) if t.which == which]
            store.upsert(which, [p.id for p, _ in rows], [p.text for p, _ in rows], [p.metadata for p, _ in rows], [v for _, v in rows])
        progress.update(window, finished=start + WINDOW >= len(todo))
    progress.close()
    return len(todo)


class Progress:
    """Embedding progress a person can follow: a bar with rate and ETA on a terminal, else a log line every
    `every` seconds and at the end (files, chunks, texts, texts/s, ETA); `show=False` says nothing."""

    def __init__(self, todo: list[Todo], log: Callable[[str], None], show: bool | None, every: float = 30.0) -> None:
        self.last_of = {t.doc: i for i, t in enumerate(todo)}  # a file is done once its last new piece is
        self.texts, self.chunks = len(todo), sum(t.which == "chunks" for t in todo)
        self.log, self.every = log, every
        self.done = self.chunks_done = self.files_done = 0
        self.started = self.logged = time.perf_counter()
        terminal = sys.stderr.isatty()
        self.lines = bool(self.texts) and show is None and not terminal
        self.bar = None
        if self.texts and (show or (show is None and terminal)):
            from tqdm import tqdm

            self.bar = tqdm(total=self.texts, desc="embedding", unit="text", dynamic_ncols=True)

    def update(self, window: list[Todo], finished: bool = False) -> None:
        self.done += len(window)
        self.chunks_done += sum(t.which == "chunks" for t in window)
        self.files_done = sum(last < self.done for last in self.last_of.values())
        if self.bar is not None:
            self.bar.set_postfix_str(f"files {self.files_done}/{len(self.last_of)}, chunks {self.chunks_done}/{self.chunks}",
                                     refresh=False)
            self.bar.update(len(window))
        elif self.lines and (finished or time.perf_counter() - self.logged >= self.every):
            self.logged = time.perf_counter()
            self.log(self.line())

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.texts - self.done) / rate if rate > 0 else 0.0
        return (f"embedded {self.done:,}/{self.texts:,} texts ({100 * self.done / self.texts:.0f}%): files "
                f"{self.files_done:,}/{len(self.last_of):,}, chunks {self.chunks_done:,}/{self.chunks:,}, "
                f"{rate:.1f} texts/s, ETA {_duration(eta)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
