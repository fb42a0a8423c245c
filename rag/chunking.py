"""Split a cleaned document into chunks (retrieval units, cited as passages) and answer units, with stable ids.

Structure decides the units. An answer unit is a sentence, or a sentence with the list, steps or table it
introduces (never a sentence cut at its colon), or a list under a heading; headings and question lines are never
answer units. Chunks pack whole units, never run across an explicit heading (HTML, Markdown), and carry their
heading path ("Page > Section > Subsection")."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

from langchain_core.documents import Document

from .documents import Block, SourceDoc
from .text import sentence_spans

SHORT_ITEM = 150  # characters: items up to this long, with no lead sentence, make one enumeration


@dataclass(frozen=True)
class Piece:
    """A chunk or an answer unit: its id, its text, and the metadata stored beside it."""

    id: str
    text: str
    metadata: dict

    def as_document(self) -> Document:
        return Document(page_content=self.text, metadata=self.metadata, id=self.id)


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    kind: str  # "heading" or "link" (never quoted), "sentence" or "list" (a lead sentence with its items, or items alone)
    hard: bool = False  # an explicit heading: a new section starts here, no chunk runs across it
    level: int = 0


def search_text(text: str, metadata: dict) -> str:
    """What retrieval reads of a chunk (embedded, and indexed by BM25): its heading path, then its text, so that a
    chunk deep in a section still says what it is about. The passage shown and quoted stays `text`."""
    section = metadata.get("section")
    return f"{section}\n{text}" if section else text


def piece_id(path: str, start: int, text: str) -> str:
    """Content-addressed: the text as embedded (a chunk's heading path included) and where it starts."""
    return hashlib.sha256(f"{path}\0{start}\0{text}".encode()).hexdigest()[:32]


def split(doc: SourceDoc, chunk_size: int = 700, overlap: int = 1) -> tuple[list[Piece], list[Piece]]:
    """Chunks (retrieval units, cited as passages) and the answer units inside them."""
    text = doc.text
    units = structure(doc, chunk_size)
    base = {"source": doc.source, "path": str(doc.path), "title": doc.title, "date": doc.date or ""}
    sentences = [
        Piece(piece_id(base["path"], u.start, text[u.start : u.end]), text[u.start : u.end], {**base, "start": u.start, "end": u.end})
        for u in units
        if u.kind in ("sentence", "list")
    ]
    chunks = []
    for index, (a, b, section) in enumerate(_pack(units, text, chunk_size, overlap, doc.title)):
        meta = {**base, "chunk_index": index, "start": a, "end": b} | ({"section": section} if section else {})
        chunks.append(Piece(piece_id(base["path"], a, search_text(text[a:b], meta)), text[a:b], meta))
    return chunks, sentences


def structure(doc: SourceDoc, chunk_size: int) -> list[Unit]:
    """The document as a sequence of units, in reading order."""
    text = doc.text
    blocks = list(doc.blocks) or [Block(m.start(), m.end(), "text") for m in re.finditer(r"[^\n]+", text)]
    limit = 2 * chunk_size  # a list answered whole may be longer than one chunk's usual size, never unbounded
    out: list[Unit] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        line = text[block.start : block.end]
        if block.kind == "heading" and not _states(line):
            out.append(Unit(block.start, block.end, "heading", hard=True, level=block.level))
            i += 1
            continue
        if block.kind in ("item", "row", "link"):
            j = i
            while j < len(blocks) and blocks[j].kind in ("item", "row", "link"):
                j += 1
            lead = out.pop() if out and out[-1].kind == "sentence" and _introduces(text, out[-1], block) else None
            out += _lists(text, blocks[i:j], lead, limit) if lead else _unled(text, blocks[i:j], limit)
            i = j
            continue
        spans = _bounded(sentence_spans(text, block.start, block.end), text, chunk_size)
        if len(spans) == 1 and line.rstrip().endswith("?"):  # a question on its own line heads what answers it
            out.append(Unit(block.start, block.end, "heading"))
        else:
            out += [Unit(a, b, "sentence") for a, b in spans]
        i += 1
    return out


def _states(line: str) -> bool:
    """A heading that ends like a sentence or a list's lead ("… peut servir :") is content, not a title."""
    return bool(re.search(r"[.:;]$", line.rstrip()))


def _introduces(text: str, sentence: Unit, first: Block) -> bool:
    """The sentence ends with a colon and its list starts right after it."""
    return text[sentence.start : sentence.end].rstrip().endswith(":") and not text[sentence.end : first.start].strip()


def _unled(text: str, run: list[Block], limit: int) -> list[Unit]:
    """Items no sentence introduces: a table, or an enumeration of short items, is one unit; longer items (each a
    statement) are quoted on their own; links alone (a menu, references) are never an answer."""
    out: list[Unit] = []
    for kind, group in itertools.groupby(run, key=lambda b: b.kind == "link"):
        group = list(group)
        if kind:
            out += [Unit(b.start, b.end, "link") for b in group]
        elif all(b.kind == "row" or b.end - b.start <= SHORT_ITEM for b in group):
            out += _lists(text, group, None, limit)
        else:
            for b in group:
                out += _lists(text, [b], None, limit)
    return out


def _lists(text: str, items: list[Block], lead: Unit | None, limit: int) -> list[Unit]:
    """Consecutive items (or table rows) with their lead sentence, as few units of whole items as fit in `limit`; an
    item longer than that alone is quoted sentence by sentence."""
    out: list[Unit] = []
    run: list[int] = [lead.start, lead.end] if lead else []  # the unit being built: [start, end]
    has_items = False

    def flush() -> None:
        nonlocal run, has_items
        if run:
            out.append(Unit(run[0], run[1], "list" if has_items else "sentence"))
        run, has_items = [], False

    for item in items:
        if item.end - item.start > limit:
            flush()
            out += [Unit(a, b, "sentence") for a, b in _bounded(sentence_spans(text, item.start, item.end), text, limit)]
            continue
        if has_items and item.end - run[0] > limit:
            flush()
        run = [run[0] if run else item.start, item.end]
        has_items = True
    flush()
    return out


def _bounded(spans: list[tuple[int, int]], text: str, limit: int) -> list[tuple[int, int]]:
    """Cut sentences longer than the chunk size at clause breaks (or spaces), so no chunk overflows."""
    out = []
    for a, b in spans:
        while b - a > limit:
            window = text[a : a + limit]
            cut = max(window.rfind("; "), window.rfind(", "), window.rfind(" : "))
            if cut < limit // 3:
                cut = window.rfind(" ")
            if cut <= 0:
                cut = limit
            out.append((a, a + cut + 1 if text[a + cut] in ";,:" else a + cut))
            a += cut + 1
            while a < b and text[a].isspace():
                a += 1
        if b > a:
            out.append((a, b))
    return out


def _is_heading(text: str) -> bool:
    return len(text) < 120 and not re.search(r"[.!?…»\"”:]$", text)


def _carried(unit: Unit, text: str) -> bool:
    """A unit that opens what follows: it moves to the next chunk rather than end one."""
    return unit.kind == "heading" or (unit.kind == "sentence" and _is_heading(text[unit.start : unit.end]))


def _pack(units: list[Unit], text: str, size: int, overlap: int, title: str) -> list[tuple[int, int, str]]:
    """Greedy packing of whole units into (start, end, heading path); headings move to the chunk they introduce, an
    explicit heading closes the chunk before it, and `overlap` short sentences repeat within a section."""
    chunks: list[tuple[int, int, str]] = []
    current: list[Unit] = []
    headings: list[tuple[int, str]] = []  # the explicit headings in effect: (level, text)
    section = ""  # the heading path of the chunk being filled, set by its first content unit

    def close(upto: list[Unit]) -> None:
        chunks.append((upto[0].start, upto[-1].end, section))

    i = 0
    while i < len(units):
        unit = units[i]
        content = [u for u in current if not u.hard]  # anything but the explicit headings that open the chunk
        if current and content and (unit.hard or unit.end - current[0].start > size):
            carry = []
            while len(current) > 1 and _carried(current[-1], text):
                carry.insert(0, current.pop())
            close(current)
            tail = []
            if overlap and not carry and not unit.hard:
                tail = [u for u in current[-overlap:] if u.kind == "sentence" and u.end - u.start <= size // 3]
            current = tail + carry
            if current and unit.end - current[0].start > size:
                current = carry
            continue
        if unit.hard:
            while headings and headings[-1][0] >= unit.level:
                headings.pop()
            headings.append((unit.level, text[unit.start : unit.end]))
        elif not content:
            section = " > ".join([title] + [h for level, h in headings if level > 1 and h != title]) if headings else ""
        current.append(unit)
        i += 1
    if current and any(not u.hard for u in current):  # trailing headings with nothing under them are no passage
        close(current)
    return chunks
