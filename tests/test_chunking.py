import itertools
from pathlib import Path

import pytest

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
    repeated = sum(1 for a, b in itertools.pairwise(chunks) if b.metadata["start"] < a.metadata["end"])
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


HELP = Path(__file__).resolve().parent / "data" / "helpcenter"
PAGES = sorted(HELP.glob("*.html"))


def _follows(doc, end: int):
    """The block that starts right after character `end` (the next line), if any."""
    return next((b for b in doc.blocks if b.start > end), None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_a_sentence_that_introduces_a_list_is_never_an_answer_unit_without_it(page):
    doc = load(page, 10**7)
    _, units = split(doc)
    leads = [b for b in doc.blocks if doc.text[b.start : b.end].endswith(":") and (n := _follows(doc, b.end)) and n.kind == "item"]
    assert leads, "the page has lists introduced by a colon to check"
    for unit in units:
        after = _follows(doc, unit.metadata["end"])
        assert not (unit.text.endswith(":") and after and after.kind == "item"), unit.text
    for lead in leads:
        first_item = _follows(doc, lead.end)
        holder = [u for u in units if u.metadata["start"] < lead.end <= u.metadata["end"]]
        assert holder and holder[0].metadata["end"] >= first_item.end, doc.text[lead.start : lead.end]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_headings_are_never_answer_units_and_chunks_carry_their_path(page):
    doc = load(page, 10**7)
    chunks, units = split(doc)
    headings = [b for b in doc.blocks if b.kind == "heading" and not doc.text[b.start : b.end].endswith((".", ":", ";"))]
    assert len(headings) > 2
    starts = {(u.metadata["start"], u.metadata["end"]) for u in units}
    assert not any((h.start, h.end) in starts for h in headings)
    sections = [c.metadata.get("section", "") for c in chunks]
    assert all(s.startswith(doc.title) for s in sections) and any(" > " in s for s in sections)
    for c in chunks:  # a chunk never runs across a section heading (it may open with one, or a few)
        a, b = c.metadata["start"], c.metadata["end"]
        content = [x for x in doc.blocks if a <= x.start < b and x.kind != "heading"]
        assert not any(h.level > 1 and content[0].start < h.start < b for h in headings if content), (c.metadata["section"], c.text[:80])


def test_markdown_keeps_headings_lists_and_tables(tmp_path):
    page = tmp_path / "conges.md"
    page.write_text(
        "# Congés\n\n## Pièces à fournir\n\nVous devez fournir :\n\n- une pièce d'identité ;\n- un justificatif de domicile.\n\n"
        "## Durée\n\n| Événement | Jours |\n|---|---|\n| Mariage | 4 |\n| Naissance | 3 |\n"
    )
    doc = load(page, 10**6)
    chunks, units = split(doc)
    assert "Vous devez fournir :\n- une pièce d'identité ;\n- un justificatif de domicile." in [u.text for u in units]
    assert "Événement | Jours\nMariage | 4\nNaissance | 3" in [u.text for u in units]
    assert [c.metadata["section"] for c in chunks] == ["Congés > Pièces à fournir", "Congés > Durée"]
    assert "Pièces à fournir" not in [u.text for u in units]


def test_a_pdf_list_stays_with_its_lead_sentence(tmp_path):
    from tests.test_documents import _tiny_pdf

    lines = ["Pour demander le conge, vous devez fournir :", "- une carte vitale ;", "- un justificatif de domicile ;",
             "- le formulaire signe.", "La demande est traitee en 15 jours."]
    stream = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines) + " ET"
    page = tmp_path / "conge.pdf"
    page.write_bytes(_tiny_pdf("", stream=stream.encode()))
    _, units = split(load(page, 10**6))
    texts = [u.text for u in units]
    assert "\n".join(lines[:4]) in texts, texts
    assert lines[4] in texts


def test_a_run_of_links_is_packed_not_one_chunk_per_link(tmp_path):
    """Review finding: link-only items were carried from chunk to chunk, one 30-character chunk per link."""
    page = tmp_path / "refs.html"
    links = "".join(f"<li><a href='/r{i}'>Référence numéro {i}</a></li>" for i in range(40))
    page.write_text(f"<h1>Titre</h1><p>Un paragraphe de contenu assez long pour être une phrase.</p><ul>{links}</ul>", encoding="utf-8")
    chunks, units = split(load(page, 10**6))
    assert len(chunks) <= 3 and [u.text for u in units] == ["Un paragraphe de contenu assez long pour être une phrase."]
