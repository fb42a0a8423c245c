"""What every answerer shares (rag.answerers): quoting sentences of the passages with [n] citations, abstaining
with the passages it weighed for the person who takes over. No LLM, no invention."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass

from .messages import ABSTAIN, CLOSEST, LEAD_IN
from .schema import Answer, Citation, Hit
from .text import language as text_language
from .text import stems, tokens

MAX_SENTENCES = 3
PASSAGES_READ = 5
MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Quote:
    """A sentence of a retrieved passage, with the score it was chosen by."""

    text: str
    start: int  # in the document
    end: int
    hit: Hit
    score: float = 0.0
    threshold: float = 0.0  # the reader's: below it, the sentence is not trusted


def unique_sentences(rows: list[dict]) -> list[dict]:
    """Stored sentence rows without repeats (overlapping passages fetch some twice), in their order."""
    seen: set[tuple[str, int]] = set()
    out = []
    for r in rows:
        key = (r["metadata"]["path"], r["metadata"]["start"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def previous_sentences(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """(path, start) of each sentence -> the row of the sentence just before it, when that one was fetched too."""
    ordered = sorted(rows, key=lambda r: (r["metadata"]["path"], r["metadata"]["start"]))
    out = {}
    for a, b in itertools.pairwise(ordered):
        if a["metadata"]["path"] == b["metadata"]["path"] and a["metadata"]["end"] <= b["metadata"]["start"]:
            out[(b["metadata"]["path"], b["metadata"]["start"])] = a
    return out


def redundant(s, chosen) -> bool:
    """The sentence overlaps one already chosen, or shares most of its words with one."""
    mine = set(stems(s.text))
    for c in chosen:
        if s.start < c.end and c.start < s.end and s.hit.path == c.hit.path:
            return True
        theirs = set(stems(c.text))
        if mine and len(mine & theirs) / len(mine | theirs) > 0.5:
            return True
    return False


def compose(chosen, language: str, confidence: float) -> Answer:
    """Quote the sentences (best first, the rest in reading order), each with the [n] of its passage."""
    best = chosen[0]
    ordered = [best] + sorted(chosen[1:], key=lambda s: (s.hit.path != best.hit.path, s.hit.path, s.start))
    numbers: dict[str, int] = {}
    citations, parts = [], []
    same = {text_language(s.text) for s in ordered} == {language}  # an English question on English text: no lead-in
    for s in ordered:
        n = numbers.setdefault(s.hit.id, len(numbers) + 1)
        # Replies in another language quote the text in English quotes, which cannot be confused with the
        # guillemets the text itself may open ("Le tweet disait : « J'ai viré …").
        parts.append(f"{s.text} [{n}]" if language == "fr" or same else f"“{s.text}” [{n}]")
        citations.append(cite(s, n))
    lead = "" if same else LEAD_IN.get(language, "")
    return Answer(text=(lead + " ".join(parts)).strip(), citations=tuple(citations), confidence=confidence, language=language)


def cite(s, n: int) -> Citation:
    return Citation(
        n=n, source=s.hit.source, title=s.hit.title, date=s.hit.date, passage=s.hit.text, sentence=s.text,
        span=(s.start - s.hit.start, s.end - s.hit.start), doc_span=(s.start, s.end), score=round(s.score, 4),
        section=s.hit.section,
    )


def considered(ranked, hits: list[Hit] | None = None, limit: int = 3) -> tuple[Citation, ...]:
    """The best sentence of each of the first `limit` passages: what a person taking over should read first, and what
    closest passages show after the quote they withhold. With `hits`, the passages come in retrieval's order (which finds
    the right section of a help page more often than the sentence scores do); else in the order of their best sentence."""
    if hits is not None:
        order = {h.id: i for i, h in enumerate(hits)}
        ranked = sorted(ranked, key=lambda s: (order.get(s.hit.id, len(order)), -s.score))
    best_per_passage: dict[str, object] = {}
    for s in ranked:
        if len(best_per_passage) == limit:
            break
        best_per_passage.setdefault(s.hit.id, s)
    return tuple(cite(s, n) for n, s in enumerate(best_per_passage.values(), start=1))


def abstention(language: str, confidence: float = 0.0, considered: tuple[Citation, ...] = (), signals: dict | None = None) -> Answer:
    return Answer(
        text=ABSTAIN["fr" if language == "fr" else "en"], confidence=confidence, abstained=True,
        handoff="low_confidence", language=language, considered=considered, outcome="abstain", signals=signals or {},
    )


CLOSEST_PASSAGES = 3  # cards "closest passages" shows


def closest(answer: Answer, confidence: float) -> Answer:
    """No claim: a sentence saying the documents may not answer this, source cards (`considered`): the sentences the
    answer would have quoted (`withheld` of them), then the best sentence of each next passage the answerer read, up to
    CLOSEST_PASSAGES passages; and a person offered."""
    lang = "fr" if answer.language == "fr" else "en"
    cards = list(answer.citations or answer.considered)
    held = {c.passage for c in cards}
    for c in answer.considered if answer.citations else ():
        if len(held) < CLOSEST_PASSAGES and c.passage not in held:
            held.add(c.passage)
            cards.append(dataclasses.replace(c, n=max(x.n for x in cards) + 1))
    return dataclasses.replace(answer, text=CLOSEST[lang], citations=(), considered=tuple(cards), withheld=len(answer.citations),
                               confidence=confidence, abstained=True, handoff="closest_passages", outcome="closest")


def signals(ranked: list, hits: list[Hit], question: str, **extra: float) -> dict[str, float]:
    """What any extractive answerer weighed, for the calibrator: its best sentence's score and the margin to the next,
    where that sentence's passage ranked and whether both retrievers found it, how many of the next best sentences
    agree with it (same document), the question's language and whether the sentence shares it. `extra`: the answerer's
    own."""
    if not ranked:
        return {}
    best = ranked[0]
    hit = best.hit
    rank = next((i for i, h in enumerate(hits) if h.id == hit.id), len(hits))
    top = ranked[1:4]
    return {
        "score": float(best.score),
        "margin": float(best.score - ranked[1].score) if len(ranked) > 1 else 1.0,
        "passage_rank": float(rank),
        "dense": float(hit.dense or 0.0),
        "both_retrievers": float(hit.dense is not None and hit.bm25 is not None),
        "agree": float(sum(s.hit.path == hit.path for s in top) / len(top)) if top else 0.0,
        "cross_language": float(text_language(question) != text_language(best.text)),
        "question_fr": float(text_language(question) == "fr"),  # each answerer reads the two languages unequally well
        "question_words": math.log1p(len(set(stems(question)))),
        "sentence_words": math.log1p(len(best.text.split())),
        "is_question": float(best.text.rstrip().endswith("?")),
        **{k: float(v) for k, v in extra.items()},
    }


def missing_words(question: str, answer: Answer, idf) -> dict[str, float]:
    """What of the question the quoted sentences leave out, for the calibrator: a sentence that matches a question
    except for its rarest word ("the 11 November attacks" against "the 13 November attacks") is the near miss a
    similarity score cannot tell from an answer. Per question word (present when any of its stems is quoted),
    weighted by `idf`: the rarest missing word's weight over the rarest word's, the missing share of the weight, how
    many words and how many figures are missing."""
    quoted = set(stems(" ".join(c.sentence for c in (answer.citations or answer.considered))))
    words = {t: st for t in tokens(question) if (st := stems(t))}
    if not words:
        return {"miss_max": 0.0, "miss_weight": 0.0, "miss_count": 0.0, "miss_numbers": 0.0}
    weight = {t: max(idf(s) for s in st) for t, st in words.items()}
    gone = [t for t, st in words.items() if not set(st) & quoted]
    return {"miss_max": max((weight[t] for t in gone), default=0.0) / (max(weight.values()) or 1.0),
            "miss_weight": sum(weight[t] for t in gone) / (sum(weight.values()) or 1.0),
            "miss_count": float(len(gone)), "miss_numbers": float(sum(any(ch.isdigit() for ch in t) for t in gone))}


def with_signals(answer: Answer, question: str, signals: dict[str, float], idf) -> Answer:
    """The answer with what its answerer weighed (`signals`) and what its quote leaves out of the question."""
    return dataclasses.replace(answer, signals={**signals, **missing_words(question, answer, idf)} if signals else {})


def valid_citations(answer: Answer) -> Answer:
    """The answer with only the citations that quote their passage, and only the [n] markers that name one of them;
    an answer left without a citation is an abstention (what it cited kept for the person who takes over)."""
    if answer.abstained:
        return answer
    kept = tuple(c for c in answer.citations if c.sentence and c.passage[c.span[0] : c.span[1]] == c.sentence)
    numbers = {c.n for c in kept}
    text = MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in numbers else "", answer.text)
    if not kept or not MARKER.search(text):
        return abstention(answer.language, answer.confidence, considered=answer.citations)
    if len(kept) == len(answer.citations) and text == answer.text:
        return answer
    return dataclasses.replace(answer, text=re.sub(r"[ \t]{2,}", " ", text).strip(), citations=kept)
