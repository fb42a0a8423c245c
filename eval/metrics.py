"""Deterministic metrics over (case, retrieved hits, answer, latency) records: pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.answer import MARKER
from rag.messages import LEAD_IN
from rag.schema import Answer, Hit
from rag.text import normalize, sentence_spans
from rag.verify import missing_facts

from .cases import Case

KEYS = (
    "n_cases", "hit_at_1", "hit_at_5", "mrr", "answer_accuracy", "citation_precision", "abstain_accuracy",
    "false_abstain_rate", "handoff_recall", "false_handoff_rate", "shown_precision", "coverage", "closest_shown", "closest_right", "aurc",
    "unsupported_facts", "llm_dropped_share",
    "latency_p50_ms", "latency_p95_ms",
)
LOWER_IS_BETTER = {"false_abstain_rate", "false_handoff_rate", "aurc", "unsupported_facts", "latency_p50_ms", "latency_p95_ms"}


@dataclass
class Record:
    case: Case
    hits: list[Hit]
    answer: Answer
    ms: float
    stages: dict[str, float] = field(default_factory=dict)


_DIGIT_SPACE = re.compile(r"(?<=\d) (?=[\d%])")


def _matchable(text: str) -> str:
    """`normalize`, and a number written alike however it is spaced: "85 %" and "85%", "3 422" and "3422" (a model
    writes the figure of the passage in its own typography)."""
    return _DIGIT_SPACE.sub("", normalize(text))


def contains_any(text: str, needles) -> bool:
    hay = _matchable(text)
    return any(_matchable(n) in hay for n in needles)


def relevant(hit: Hit, case: Case) -> bool:
    return hit.source in case.expected_sources and contains_any(hit.text, case.evidence)


def first_relevant(hits: list[Hit], case: Case) -> int | None:
    return next((i + 1 for i, h in enumerate(hits) if relevant(h, case)), None)


def correct(record: Record) -> bool:
    return not record.answer.abstained and contains_any(record.answer.text, record.case.answer_contains)


def unsupported_facts(answer: Answer) -> int:
    """Sentences of a shown answer holding a number or name that the passage they cite lacks (rag.verify's check)."""
    if answer.abstained:
        return 0
    by_n = {c.n: (c.passage, c.title) for c in answer.citations}  # the title too: the model read it above the passage
    text = answer.text
    for lead in filter(None, LEAD_IN.values()):  # the bot's own words introducing a quote claim nothing
        text = text.replace(lead, "")
    count = 0
    for sentence in claims(text):
        cited = [by_n[int(n)] for n in MARKER.findall(sentence) if int(n) in by_n]
        count += bool(cited) and all(missing_facts(sentence, p, title) for p, title in cited)
    return count


def claims(text: str) -> list[str]:
    """The sentences of an answer, each with its markers: a quote's marker follows its end ("… 2022. [1] Klarna …",
    "… 20 novembre 2013 ; [1] En d'autres termes …", a list item's "… 1,6 Smic) [1] Cette …"), where a sentence splitter
    sees no boundary, so the text is cut after each run of markers that follows the end of a sentence, or that a new
    sentence or item follows (a capital, a quote mark, a figure, a dash); "Klarna [1] et OpenAI [2] ont lancé…" and
    "Klarna (la fintech) [1] et OpenAI [2] …" stay one sentence."""
    cut = re.sub(r"([.!?…]\s*(?:\[\d+\]\s*)+|(?:\[\d+\]\s*)+(?=[A-ZÀ-ÖØ-Þ«“\"\d•-]))", "\\1\n\n", text)
    return [piece[a:b] for piece in cut.split("\n\n") for a, b in sentence_spans(piece)]


def would_be_right(record: Record) -> bool:
    """The answer, or what it would have quoted (closest passages, an abstention's weighed sentences), answers the case."""
    a = record.answer
    weighed = a.considered[: a.withheld] if a.withheld else a.considered  # closest passages: the quote it withheld
    said = a.text if a.outcome == "answer" and not a.abstained else " ".join(c.sentence for c in weighed)
    return record.case.expect == "answer" and contains_any(said, record.case.answer_contains)


def risk_coverage(records: list[Record]) -> list[tuple[float, float, float]]:
    """(coverage, precision, confidence) at every cut of the answers ranked by confidence: answering the top k, the
    share of answerable questions answered right or not, and the share of those k that are right. Intent cases
    (expect handoff) are left out; an off-corpus question answered counts as wrong."""
    scored = sorted((r for r in records if r.case.expect != "handoff"), key=lambda r: -r.answer.confidence)
    answerable = sum(r.case.expect == "answer" for r in scored) or 1
    out, right, covered = [], 0, 0
    for k, r in enumerate(scored, start=1):
        right += would_be_right(r)
        covered += r.case.expect == "answer"
        out.append((covered / answerable, right / k, r.answer.confidence))
    return out


def aurc(curve: list[tuple[float, float, float]]) -> float:
    """Area under the risk-coverage curve: the mean risk (1 - precision) over every cut; lower is better."""
    return round(sum(1 - p for _, p, _ in curve) / len(curve), 4) if curve else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 2)


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def compute(records: list[Record]) -> dict:
    answerable = [r for r in records if r.case.expect == "answer"]
    ranks = [first_relevant(r.hits, r.case) for r in answerable]
    citations = [
        contains_any(c.passage, r.case.answer_contains + r.case.evidence)
        for r in answerable if not r.answer.abstained for c in r.answer.citations
    ]
    stages = sorted({k for r in records for k in r.stages})
    shown = [r for r in records if r.case.expect != "handoff" and not r.answer.abstained]
    return {
        "n_cases": len(records),
        "hit_at_1": _share([rank == 1 for rank in ranks]),
        "hit_at_5": _share([rank is not None and rank <= 5 for rank in ranks]),
        "mrr": round(sum(1 / rank for rank in ranks if rank) / len(ranks), 4) if ranks else 0.0,
        "answer_accuracy": _share([correct(r) for r in answerable]),
        "citation_precision": _share(citations),
        "abstain_accuracy": _share([r.answer.abstained for r in records if r.case.expect == "abstain"]),
        "false_abstain_rate": _share([r.answer.abstained for r in answerable]),
        "handoff_recall": _share([r.answer.handoff is not None for r in records if r.case.expect == "handoff"]),
        "false_handoff_rate": _share([r.answer.handoff is not None for r in answerable]),
        "shown_precision": _share([correct(r) for r in shown]),  # off-corpus answers shown count as wrong
        "coverage": _share([not r.answer.abstained for r in answerable]),
        "closest_shown": _share([r.answer.outcome == "closest" for r in records if r.case.expect != "handoff"]),
        # of the answerable questions given the closest passages, the share where a card's passage holds the answer
        "closest_right": _share([any(contains_any(c.passage, r.case.answer_contains) for c in r.answer.considered)
                                 for r in answerable if r.answer.outcome == "closest"]),
        "aurc": aurc(risk_coverage(records)),
        "unsupported_facts": sum(unsupported_facts(r.answer) for r in records),  # in sentences shown; 0 is the goal
        "llm_dropped_share": round(sum(r.answer.signals.get("llm_dropped", 0) for r in records)
                                   / max(1, sum(r.answer.signals.get("llm_sentences", 0) for r in records)), 4),
        "latency_p50_ms": percentile([r.ms for r in records], 0.5),
        "latency_p95_ms": percentile([r.ms for r in records], 0.95),
        "stages_ms": {s: {"p50": percentile([r.stages.get(s, 0.0) for r in records], 0.5),
                          "p95": percentile([r.stages.get(s, 0.0) for r in records], 0.95)} for s in stages},
    }


def failures(records: list[Record]) -> list[dict]:
    """Every case the config got wrong, with what it retrieved and answered: the 'why' for the report."""
    out = []
    for r in records:
        c = r.case
        if c.expect == "answer":
            wrong = [] if correct(r) else ["answer"]
            if first_relevant(r.hits, c) is None:
                wrong.append("retrieval")
            wrong += ["citation"] * any(not contains_any(x.passage, c.answer_contains + c.evidence) for x in r.answer.citations)
        elif c.expect == "abstain":
            wrong = [] if r.answer.abstained else ["not abstained"]
        else:
            wrong = [] if r.answer.handoff else ["no handoff"]
        if wrong:
            out.append({
                "id": c.id, "question": c.question, "expect": c.expect, "wrong": wrong,
                "expected": list(c.answer_contains or c.evidence),
                "retrieved": [f"{h.source} #{h.chunk_index}: {h.text[:120]}" for h in r.hits[:3]],
                "answer": r.answer.text, "confidence": r.answer.confidence, "handoff": r.answer.handoff,
            })
    return out


def regressions(metrics: dict, baseline: dict, tolerance: float) -> list[str]:
    """Quality metrics that got worse than the baseline by more than `tolerance` (latency is not gated)."""
    out = []
    for key in KEYS:
        if key in ("n_cases", "latency_p50_ms", "latency_p95_ms") or key not in baseline:
            continue
        delta = metrics[key] - baseline[key]
        worse = delta > tolerance if key in LOWER_IS_BETTER else -delta > tolerance
        if worse:
            out.append(f"{key}: {metrics[key]:.3f} vs baseline {baseline[key]:.3f} (tolerance {tolerance})")
    return out
