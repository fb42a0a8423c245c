from pathlib import Path

import pytest

from rag.documents import load
from rag.retrieval import rrf


def test_rrf_by_hand():
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert [id_ for id_, _ in fused] == ["a", "c", "b"]


def test_rrf_ties_are_deterministic():
    assert rrf([["x"], ["y"]]) == [("x", 1 / 61), ("y", 1 / 61)]


def test_hybrid_retrieves_the_refund_passage(pipeline):
    hits = pipeline.retrieve("Combien Air Canada a-t-elle dû rendre au client ?", k=5)
    assert hits[0].source.startswith("004_") and "880 dollars" in hits[0].text
    document = load(Path(hits[0].path), 10**7).text  # the file on disk, not the index the hit was built from
    assert document[hits[0].start : hits[0].end] == hits[0].text


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes_return_hits_with_offsets(pipeline, mode):
    hits = pipeline.retrieve("licenciement de 700 salariés en juin 2022", k=3, mode=mode)
    assert 1 <= len(hits) <= 3
    assert any("700 salariés" in h.text for h in hits)
    for h in hits:
        assert h.end - h.start == len(h.text) and h.title and h.source.endswith(".txt")


def test_bm25_follows_a_new_ingest(pipeline, settings):
    from rag.indexing import ingest

    assert not pipeline.retrieve("zygomorphe", k=3, mode="bm25")
    (settings.docs / "extra.md").write_text("# Botanique\n\nUne fleur zygomorphe a une seule symétrie.\n")
    ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    pipeline.retriever.refresh = 0
    hits = pipeline.retrieve("zygomorphe", k=3, mode="bm25")
    assert hits and hits[0].source == "extra.md"


def test_blank_question_retrieves_nothing(pipeline):
    assert pipeline.retrieve("   ") == []


def test_an_answers_word_weights_come_from_the_index_it_was_found_with(pipeline, monkeypatch):
    """The answerers and the calibrator's signals look up a dozen idf weights per answer: none may go back to the store,
    where an `ingest.py --reset` running meanwhile can fail a read."""
    pipeline.retrieve("Combien Air Canada a-t-elle dû rendre au client ?", k=5)
    weight = pipeline._idf("canad")

    def unreachable():
        raise RuntimeError("the store was read mid-answer")

    monkeypatch.setattr(pipeline.retriever, "refresh", 0)
    monkeypatch.setattr(pipeline.retriever.store, "version", unreachable)
    assert pipeline._idf("canad") == weight > 0
