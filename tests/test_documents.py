from pathlib import Path

import pytest

from rag.documents import SkipFile, load

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_seed_titles_dates_and_furniture():
    docs = {p.name[:3]: load(p, 10**7) for p in sorted(SEEDS.iterdir())}
    assert docs["000"].title.startswith("Virage à 180 degrés : Klarna regrette")
    assert docs["000"].date == "2025-05-14"
    assert docs["004"].title == "Les grandes promesses" and docs["004"].date == "2025-05"
    everything = "\n".join(d.text for d in docs.values())
    for furniture in ("Back to top button", "post-image-3", "Notez ce sujet", "Illustration générée par IA", "\nClose\n", "\nimage"):
        assert furniture not in everything
    # Article text next to the furniture survives.
    assert "Un modèle hybride comme nouvelle norme" in docs["001"].text
    assert docs["003"].text.rstrip().endswith("les besoins en matière de recrutement.")
    assert "2,3 millions de conversations par mois" in docs["001"].text


def test_html_drops_scripts_and_navigation(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Remboursements</title><script>alert(1)</script></head><body><nav>Menu</nav>"
                    "<h1>Politique</h1><p>Un remboursement prend 5 jours.</p><footer>© 2025</footer></body></html>")
    doc = load(page, 10**6)
    assert doc.title == "Remboursements"
    assert "Un remboursement prend 5 jours." in doc.text
    assert "alert" not in doc.text and "Menu" not in doc.text and "©" not in doc.text


def test_markdown_title(tmp_path):
    md = tmp_path / "faq.md"
    md.write_text("# Foire aux questions\n\n## Retours\nLes retours sont gratuits.\n")
    doc = load(md, 10**6)
    assert doc.title == "Foire aux questions"
    assert doc.text == "Foire aux questions\nRetours\nLes retours sont gratuits."  # heading marks are not text


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\t\n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("latin1.txt", "Le café coûte très cher.".encode("latin-1"), "not UTF-8"),
        ("fake.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("notes.docx", b"PK\x03\x04", "unsupported"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        load(path, 10**6)


def test_oversized_file(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("Une phrase. " * 1000)
    with pytest.raises(SkipFile, match="too large"):
        load(path, 1000)


def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.txt"
    path.symlink_to("/proc/self/mem")  # a regular file whose read fails, even for root
    with pytest.raises(SkipFile, match="unreadable"):
        load(path, 10**6)


def test_pdf_text_is_extracted(tmp_path):
    path = tmp_path / "doc.pdf"
    path.write_bytes(_tiny_pdf("Klarna a lance un assistant en 2024."))
    assert "Klarna a lance un assistant en 2024." in load(path, 10**6).text


def test_a_pdf_bomb_is_skipped_with_a_reason_and_the_rest_is_ingested(tmp_path, settings):
    """Issue 25 row 9: 100 MB of zeros behind Flate (a 100 kB file) aborted the whole ingest with LimitReachedError."""
    import zlib

    from rag.indexing import ingest

    (settings.docs / "bombe.pdf").write_bytes(_tiny_pdf("", stream=zlib.compress(b"\0" * 100_000_000, 9), flate=True))
    with pytest.raises(SkipFile, match="too large once decompressed"):
        load(settings.docs / "bombe.pdf", 10**7)
    report = ingest([settings.docs], settings, log=lambda _m: None, progress=False)
    assert report.files >= 1 and any("bombe.pdf" in str(p) and "decompressed" in why for p, why in report.skipped)


def _tiny_pdf(text: str, stream: bytes | None = None, flate: bool = False) -> bytes:
    """A minimal one-page PDF with one line of Helvetica text (or the given content stream), offsets computed for a
    valid xref."""
    stream = stream if stream is not None else f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + (b" /Filter /FlateDecode" if flate else b"") + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_html_with_omitted_end_tags_keeps_the_rest_of_the_page(tmp_path):
    """Review finding: `</li>` and `</tr>` may be left out; the body after a list or table was read as its last item."""
    page = tmp_path / "omis.html"
    page.write_text("<h1>Page</h1><ul><li>un<li>deux</ul><p>Le corps du texte.</p>"
                    "<table><tr><td>a<td>b<tr><td>c<td>d</table><p>Suite du texte.</p>"
                    "<ul><li><h3><a href='/x'>Autre page</a></h3><p>Un extrait…</p><li><h3><a href='/y'>Encore</a></h3></ul>"
                    "<p>Fin de la page.</p>", encoding="utf-8")
    doc = load(page, 10**6)
    kinds = {doc.text[b.start : b.end]: b.kind for b in doc.blocks}
    assert kinds["- un"] == kinds["- deux"] == "item" and kinds["a | b"] == kinds["c | d"] == "row"
    assert kinds["Le corps du texte."] == kinds["Suite du texte."] == kinds["Fin de la page."] == "text"
    assert "Autre page" not in doc.text and "Un extrait" not in doc.text  # a link card is another page's navigation


def test_slashes_in_ordinary_lines_are_kept(tmp_path):
    page = tmp_path / "os.md"
    page.write_text("# Logiciel\n\nCompatible avec Windows / macOS / Linux\n\n- Lundi / Mardi / Jeudi\n", encoding="utf-8")
    text = load(page, 10**6).text
    assert "Windows / macOS / Linux" in text and "Lundi / Mardi / Jeudi" in text
