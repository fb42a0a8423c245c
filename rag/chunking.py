"""Split a cleaned document into sentence-aligned chunks (and their sentences) with stable, content-derived ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from langchain_core.documents import Document

from .documents import SourceDoc
from .text import sentence_spans


@dataclass(frozen=True)
class Piece:
    """A chunk or a sentence: its id, its text, and the metadata stored beside it."""

    id: str
    text: str
    metadata: dict

    def as_document(self) -> Document:
        return Document(page_content=self.text, metadata=self.metadata, id=self.id)


def piece_id(path: str, start: int, text: str) -> str:
    return hashlib.sha256(f"{path}\0{start}\0{text}".encode()).hexdigest()[:32]


def split(doc: SourceDoc, chunk_size: int = 700, overlap: int = 1) -> tuple[list[Piece], list[Piece]]:
    """Chunks (retrieval units, cited as passages) and the sentences inside them (answer units)."""
    text = doc.text
    spans = _bounded(sentence_spans(text), text, chunk_size)
    base = {"source": doc.source, "path": str(doc.path), "title": doc.title, "date": doc.date or ""}
    sentences = [
        Piece(piece_id(base["path"], a, text[a:b]), text[a:b], {**base, "start": a, "end": b}) for a, b in spans
    ]
    chunks = []
    for index, (a, b) in enumerate(_pack(spans, text, chunk_size, overlap)):
        chunks.append(Piece(piece_id(base["path"], a, text[a:b]), text[a:b], {**base, "chunk_index": index, "start": a, "end": b}))
    return chunks, sentences


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


def _pack(spans: list[tuple[int, int]], text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy packing of whole sentences; headings move to the chunk they introduce; `overlap` sentences repeat."""
    chunks: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if current and span[1] - current[0][0] > size:
            carry = []
            while len(current) > 1 and _is_heading(text[current[-1][0] : current[-1][1]]):
                carry.insert(0, current.pop())
            chunks.append((current[0][0], current[-1][1]))
            tail = [s for s in current[-overlap:] if s[1] - s[0] <= size // 3] if overlap and not carry else []
            current = tail + carry
            if current and span[1] - current[0][0] > size:
                current = carry
            continue
        current.append(span)
        i += 1
    if current:
        chunks.append((current[0][0], current[-1][1]))
    return chunks
