"""The help-center corpus script (eval/helpcenter.py) on a hand-written page, and the help-center cases' evidence."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from eval.cases import load_cases
from eval.helpcenter import main, page_html, pages
from rag.documents import load
from rag.text import normalize

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "helpcenter"
CASES = [ROOT / "eval" / "cases" / f"helpcenter-{name}.jsonl" for name in ("heldout", "tuning")]

PAGE = {
    "title": "Le congé de test",
    "url": "https://travail-emploi.gouv.fr/le-conge-de-test",
    "date": "05/03/2024",
    "pubId": "article1",
    "intro": '<p>Un congé <strong>de 4 jours</strong>.</p><script>alert(1)</script><div class="fr-x"> </div>',
    "sections": [
        {"title": "Quelles démarches\u00a0?", "anchor": "demarches",
         "html": '<p>Le salarié doit fournir :</p><ul><li>un justificatif ;</li><li>une <a href="https://ex.fr/a" '
                 'onclick="x()">demande écrite</a>.</li></ul><img src="x.png" alt="photo"><style>p{}</style>'},
        {"title": "Combien est-il payé ?", "anchor": "paye",
         "html": '<h3>Barème</h3><table><thead><tr><th scope="col">Âge</th><th>Taux</th></tr></thead>'
                 '<tbody><tr><td>Moins de 21 ans</td><td>55 % du SMIC</td></tr></tbody></table>'
                 '<div><span></span><p><br></p></div>'},
    ],
}


def test_a_page_keeps_its_structure_and_loses_scripts_images_and_empty_wrappers(tmp_path):
    document = page_html(PAGE)
    assert "<title>Le congé de test</title>" in document and "<h1>Le congé de test</h1>" in document
    assert "<h2>Quelles démarches\u00a0?</h2>" not in document and "<h2>Quelles démarches ?</h2>" in document
    assert '<ul><li>un justificatif ;</li>\n<li>une <a href="https://ex.fr/a">demande écrite</a>.</li>\n</ul>' in document
    assert "<h3>Barème</h3>" in document
    assert '<table><thead><tr><th scope="col">Âge</th>\n<th>Taux</th>' in document
    assert "<td>55 % du SMIC</td>" in document
    assert document.index("<h2>Quelles démarches ?</h2>") < document.index("<h2>Combien est-il payé ?</h2>")
    for gone in ("alert", "<script", "<style", "<img", "x.png", "onclick", "class=", "<span", "<div"):
        assert gone not in document
    path = tmp_path / "le-conge-de-test.html"
    path.write_text(document, encoding="utf-8")
    doc = load(path, 10**6)
    assert (doc.title, doc.date) == ("Le congé de test", "2024-03-05")
    lines = doc.text.split("\n")
    order = ["Un congé de 4 jours.", "Quelles démarches ?", "Le salarié doit fournir :", "un justificatif ;",
             "une demande écrite.", "Combien est-il payé ?", "Barème", "Moins de 21 ans", "55 % du SMIC"]
    at = [next(i for i, line in enumerate(lines) if piece in line) for piece in order]
    assert at == sorted(at) and at[3] < at[4]  # one line per block, list items and table rows apart
    assert "ans55" not in doc.text.replace(" ", "")  # table cells are not glued together


def test_names_come_from_the_url_and_a_twice_listed_page_is_written_once():
    other = dict(PAGE, url="https://travail-emploi.gouv.fr/l-autre-page/", title="Autre")
    changed = dict(PAGE, pubId="article2", intro="<p>Autre version.</p>")
    built = pages([PAGE, dict(PAGE), other, changed])
    assert [p.name for p in built] == ["l-autre-page.html", "le-conge-de-test-article2.html", "le-conge-de-test.html"]


def test_the_script_writes_from_a_tgz_and_a_second_run_changes_nothing(tmp_path, capsys):
    package = tmp_path / "package"
    (package / "data").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": "9.9.9"}))
    (package / "data" / "fiches-travail.json").write_text(json.dumps([PAGE]), encoding="utf-8")
    tgz = tmp_path / "p.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(package, arcname="package")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "mine.html").write_text("<p>not the script's</p>")
    assert main(["--out", str(out), "--package", str(tgz)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["--out", str(out), "--package", str(package / "data" / "fiches-travail.json")]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert set(first) == {"le-conge-de-test.html", "mine.html"}
    printed = capsys.readouterr().out
    assert "@9.9.9" in printed and "0 written, 1 unchanged" in printed


def test_a_missing_package_says_what_to_do(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "out"), "--package", str(tmp_path / "none.tgz")]) == 1
    assert "npm pack @socialgouv/fiches-travail-data" in capsys.readouterr().err


def test_without_npm_the_script_says_how_to_go_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on this PATH
    assert main(["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "npm not found" in err and "--package FILE.tgz" in err
    assert not (tmp_path / "out").exists()


def test_a_failed_npm_pack_is_reported_with_npms_reason(tmp_path, monkeypatch, capsys):
    npm = tmp_path / "npm"  # an npm that cannot reach its registry
    npm.write_text("#!/bin/sh\necho 'npm error 404 Not Found - GET https://registry.npmjs.org/x' >&2\nexit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "npm pack @socialgouv/fiches-travail-data failed (npm error 404 Not Found" in err and "--package" in err


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_every_evidence_is_in_its_expected_page(path):
    if not CORPUS.is_dir() or not path.exists():
        pytest.skip("no data/helpcenter: run python eval/helpcenter.py --out data/helpcenter")
    texts: dict[str, str] = {}
    for case in load_cases(path):
        assert case.id.startswith("hc-"), case.id
        for source in case.expected_sources:
            if source not in texts:
                assert (CORPUS / source).exists(), f"{case.id}: no page {source}"
                texts[source] = normalize(load(CORPUS / source, 10**8).text)
        for evidence in case.evidence:
            assert any(normalize(evidence) in texts[s] for s in case.expected_sources), f"{case.id}: {evidence!r}"
