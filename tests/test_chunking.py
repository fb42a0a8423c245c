from pathlib import Path

from rag.chunking import _is_heading, split
from rag.documents import load

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _doc(prefix):
    return load(next(SEEDS.glob(f"{prefix}_*")), 10**7)


def test_long_paragraph_chunks_end_at_sentence_boundaries():
    doc = _doc("004")  # one ~9,000-character paragraph
    chunks, sentences = split(doc, chunk_size=700)
    assert len(chunks) > 8
    ends = {s.metadata["end"] for s in sentences}
    starts = {s.metadata["start"] for s in sentences}
    for c in chunks:
        assert len(c.text) <= 700
        assert c.metadata["end"] in ends and c.metadata["start"] in starts
        assert doc.text[c.metadata["start"] : c.metadata["end"]] == c.text


def test_metadata_and_stable_ids():
    doc = _doc("001")
    chunks, _ = split(doc)
    again, _ = split(doc)
    assert [c.id for c in chunks] == [c.id for c in again]
    assert len({c.id for c in chunks}) == len(chunks)
    meta = chunks[0].metadata
    assert meta["source"] == doc.source and meta["title"] == doc.title and meta["chunk_index"] == 0
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))


def test_overlap_repeats_the_last_sentence():
    chunks, _ = split(_doc("004"), chunk_size=700, overlap=1)
    repeated = sum(1 for a, b in zip(chunks, chunks[1:]) if b.metadata["start"] < a.metadata["end"])
    assert repeated >= len(chunks) // 2


def test_heading_rule_by_hand():
    assert _is_heading("Un titre de section") and _is_heading("x" * 119)  # short, no closing punctuation
    assert not _is_heading("x" * 120) and not _is_heading("Une phrase courte.") and not _is_heading("Il a dit :")


def test_headings_open_the_chunk_they_introduce():
    chunks, _ = split(_doc("001"), chunk_size=400, overlap=0)
    assert len(chunks) > 1 and any(_is_heading(line) for c in chunks for line in c.text.splitlines())  # headings to check
    for c in chunks:
        last_line = c.text.splitlines()[-1]
        assert not _is_heading(last_line), c.text
