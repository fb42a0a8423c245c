import pytest

from rag.embeddings import HashEmbeddings
from rag.errors import EmbedderMismatchError, IndexMissingError
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.vector_store import Store


def _quiet(paths, settings, **kw):
    return ingest(paths, settings, log=lambda _m: None, progress=False, **kw)


def _snapshot(settings):
    store = Store(settings, HashEmbeddings()).open()
    rows = sorted((r["id"], r["text"], tuple(sorted(r["metadata"].items()))) for r in store.rows("chunks"))
    sentences = sorted(r["id"] for r in store.rows("sentences"))
    return rows, sentences


def test_second_run_embeds_nothing(settings):
    first = _quiet([settings.docs], settings)
    assert first.added > 20 and first.removed == 0 and first.files == 5
    second = _quiet([settings.docs], settings)
    assert (second.added, second.removed, second.unchanged, second.embedded) == (0, 0, first.added, 0)
    assert "0 added, 0 removed" in second.summary()


def test_changed_file_replaces_its_chunks_and_deleted_file_disappears(settings):
    _quiet([settings.docs], settings)
    changed = next(settings.docs.glob("001_*"))
    changed.write_text("Nouveau titre\nKlarna propose désormais un remboursement en 14 jours.\n")
    report = _quiet([settings.docs], settings)
    assert report.added == 1 and report.removed >= 3
    next(settings.docs.glob("002_*")).unlink()
    report = _quiet([settings.docs], settings)
    assert report.removed > 0 and report.files == 4
    rows, _ = _snapshot(settings)
    sources = {dict(meta)["source"] for _, _, meta in rows}
    assert not any(s.startswith("002_") for s in sources)
    texts = [text for _, text, meta in rows if dict(meta)["source"].startswith("001_")]
    assert texts == ["Nouveau titre\nKlarna propose désormais un remboursement en 14 jours."]


def test_bad_files_are_skipped_and_the_rest_ingested(settings):
    docs = settings.docs
    (docs / "empty.txt").write_text("")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (docs / "latin1.txt").write_bytes("Café très cher".encode("latin-1"))
    (docs / "big.txt").write_text("x" * 30_000)
    (docs / "locked.txt").symlink_to("/proc/self/mem")
    (docs / "sheet.xlsx").write_bytes(b"PK")
    lines = []
    report = ingest([docs], settings.replace(max_file_mb=0.02), log=lines.append, progress=False)
    assert report.files == 5
    assert len(report.skipped) == 6 and len(lines) == 6
    reasons = " ".join(lines)
    for word in ("empty", "binary", "UTF-8", "too large", "unreadable", "unsupported"):
        assert word in reasons
    assert all("\n" not in line for line in lines)


def test_interrupted_run_then_rerun_equals_one_clean_run(settings, tmp_path, monkeypatch):
    _quiet([settings.docs], settings)
    changed = next(settings.docs.glob("003_*"))
    changed.write_text(changed.read_text().replace("700 salariés", "sept cents salariés"))
    (settings.docs / "new.md").write_text("# Nouveau\n\nUn document ajouté pendant la panne.\n")

    def crash(self, which, ids):  # Ctrl-C after the new chunks are written, before the stale ones go
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Store, "delete", crash)
        with pytest.raises(KeyboardInterrupt):
            _quiet([settings.docs], settings)
    rerun = _quiet([settings.docs], settings)
    assert rerun.removed > 0 and rerun.embedded == 0
    clean = settings.replace(data_dir=tmp_path / "clean")
    _quiet([settings.docs], clean)
    assert _snapshot(settings) == _snapshot(clean)


def test_querying_with_another_embedder_says_to_reingest(settings):
    _quiet([settings.docs], settings)
    with pytest.raises(EmbedderMismatchError, match="ingest.py --reset"):
        Pipeline(settings.replace(embeddings="e5-small")).retrieve("Klarna")


def test_no_index_says_to_run_ingest(settings):
    with pytest.raises(IndexMissingError, match="python ingest.py"):
        Pipeline(settings).retrieve("Klarna")


def test_reset_rebuilds(settings):
    first = _quiet([settings.docs], settings)
    again = _quiet([settings.docs], settings, reset=True)
    assert again.added == first.added and again.unchanged == 0


def test_while_an_index_is_rebuilt_the_bot_says_so_instead_of_not_found(pipeline, settings, monkeypatch):
    import rag.indexing

    question = "Combien Air Canada a-t-elle dû rendre au client ?"
    assert not pipeline.ask(question).abstained

    def interrupted(*_args, **_kw):  # the embedding of a `--reset` run, cut short (Ctrl-C, a crash)
        raise KeyboardInterrupt

    monkeypatch.setattr(rag.indexing, "_embed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _quiet([settings.docs], settings, reset=True)
    for fresh in (Pipeline(settings), pipeline):  # a new process, and the running one once it sees the new version
        fresh.retriever.refresh = 0
        a = fresh.ask(question)
        assert a.abstained and a.confidence == 0 and ("en cours de construction" in a.text), a.text
    monkeypatch.undo()
    _quiet([settings.docs], settings)  # the re-run finishes the index: answers again
    pipeline.retriever.refresh = 0
    assert not pipeline.ask(question).abstained


def test_a_run_interrupted_while_embedding_keeps_what_it_stored_and_the_rerun_embeds_only_the_rest(settings, tmp_path, monkeypatch):
    import rag.indexing

    clean = _quiet([settings.docs], settings.replace(data_dir=tmp_path / "clean"))
    real, windows = rag.indexing._embed, []

    def cut_short(embeddings, pieces):  # Ctrl-C while the third window is being embedded
        if len(windows) == 2:
            raise KeyboardInterrupt
        windows.append(len(pieces))
        return real(embeddings, pieces)

    with monkeypatch.context() as m:
        m.setattr(rag.indexing, "WINDOW", 20)
        m.setattr(rag.indexing, "_embed", cut_short)
        with pytest.raises(KeyboardInterrupt):
            _quiet([settings.docs], settings)
    assert windows == [20, 20]
    rerun = _quiet([settings.docs], settings)
    assert rerun.embedded == clean.embedded - 40 and rerun.added + rerun.unchanged == clean.added
    assert _snapshot(settings) == _snapshot(settings.replace(data_dir=tmp_path / "clean"))


def test_progress_is_logged_when_the_output_is_not_a_terminal(settings, monkeypatch):
    import rag.indexing

    monkeypatch.setattr(rag.indexing, "WINDOW", 30)
    lines = []
    report = ingest([settings.docs], settings, log=lines.append)  # pytest captures stderr: not a terminal
    progress = [line for line in lines if line.startswith("embedded ")]
    assert progress and progress[-1].startswith(f"embedded {report.embedded:,}/{report.embedded:,} texts (100%): files 5/5, "
                                                f"chunks {report.added}/{report.added}, ")
    assert progress[-1].endswith("ETA 0m00s") and " texts/s, " in progress[-1]
    lines.clear()
    ingest([settings.docs], settings, log=lines.append)
    assert not lines  # nothing to embed, nothing to say
