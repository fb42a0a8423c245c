"""Typed data at the seams: what retrieval returns and what an answer carries, for the UI, API and eval alike."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: the passage text and where it sits in its document."""

    id: str
    text: str
    source: str  # file name
    title: str
    date: str | None
    score: float  # fused score (reciprocal-rank fusion), higher is better
    start: int  # character offsets into the cleaned document text
    end: int
    path: str = ""
    chunk_index: int = 0
    dense: float | None = None  # cosine similarity to the question, when dense retrieval saw it
    bm25: float | None = None
    section: str = ""  # heading path of a structured page ("Page > Section > Subsection"), empty for flat text


@dataclass(frozen=True)
class Citation:
    """Passage [n] of an answer, with the sentence that supports the statement."""

    n: int
    source: str
    title: str
    date: str | None
    passage: str
    sentence: str
    span: tuple[int, int]  # the supporting sentence in `passage`
    doc_span: tuple[int, int]  # the same sentence in the cleaned document
    score: float
    section: str = ""  # the passage's heading path, shown on its card instead of the bare title when present


@dataclass(frozen=True)
class Answer:
    text: str  # with [n] markers
    citations: tuple[Citation, ...] = ()
    confidence: float = 0.0
    abstained: bool = False
    handoff: str | None = None  # None, "requested", "sensitive", "suspicious", "low_confidence" or "closest_passages"
    language: str = "fr"
    notice: str | None = None  # e.g. the question was truncated
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    answerer: str = "extractive"
    # The passages it read, the best sentence of each (an extractive answerer's first three). Never shown to the user
    # as an answer; the person who takes over sees them ("what the bot saw"; beside an answer, the other passages it
    # read); with "closest passages" the user does, as cards: the first `withheld` entries are the quote it did not
    # give (0 when the closest passages come from an abstention), the rest the best sentence of the next passages read.
    considered: tuple[Citation, ...] = ()
    withheld: int = 0
    # "answer" (quoted, cited: likely right), "closest" (no claim: the closest passages as cards, and a person
    # offered) or "abstain" (a person offered); `confidence` is then the calibrated P(the answer is right).
    outcome: str = "answer"
    signals: dict[str, float] = field(default_factory=dict)  # what the answerer weighed, for the calibrator (rag.calibration)
