"""The loop that learns from the desk: knowledge entries in the database (followed by every server's index, edited,
retired), saved answers served first, the content gaps, eval cases from the desk and their export to the eval runner."""

from __future__ import annotations

import json

import pytest

from eval.cases import load_cases
from eval.desk_cases import desk_sets
from rag.desk import Database, Desk
from rag.desk.evalcases import suggest_words
from rag.desk.gaps import Missed, _no_answer, group
from rag.errors import InputError
from rag.indexing import ingest
from rag.pipeline import Pipeline
from rag.similar import Matcher, labelled_pairs, load_space

from .conftest import ROOT

QUESTION = "Quel est le délai de remboursement chez Relaiscorp ?"
ANSWER = "Le délai de remboursement chez Relaiscorp est de quatorze jours ouvrés."


@pytest.fixture
def desk(pipeline, settings, database) -> Desk:
    def reindex(folder):
        return ingest([folder], settings, log=lambda _m: None, progress=False)

    return Desk(pipeline, database, settings.knowledge_path, reindex)


def fresh(desk: Desk) -> None:
    desk.pipeline.retriever._checked = 0  # do not wait for the 2 s index-version check


def test_a_saved_answer_is_served_first_cited_as_the_team_s_with_its_date(desk):
    entry = desk.add_knowledge("alice", QUESTION, ANSWER)
    fresh(desk)
    answer = desk.ask(desk.start(), QUESTION).answer
    assert answer.answerer == "team" and [c.source for c in answer.citations] == [entry.source]
    assert answer.text == f"Réponse de l'équipe du {entry.day} : {ANSWER} [1]"
    assert answer.citations[0].date == entry.day
    english = desk.ask(desk.start(), QUESTION, client_id=None)  # a second user: counted once more
    assert english.answer.answerer == "team"
    row = next(e for e in desk.knowledge_entries() if e["id"] == entry.id)
    assert row["answered"] == 2 and row["first_answered"] is not None  # the console is told it answers users


def test_an_unrelated_question_is_not_given_the_saved_answer(desk):
    desk.add_knowledge("alice", QUESTION, ANSWER)
    fresh(desk)
    answer = desk.ask(desk.start(), "Combien de conversations le chatbot gérait-il par mois ?").answer
    assert answer.answerer != "team" and all(not c.source.startswith("team-") for c in answer.citations)


def test_entries_live_in_the_database_and_every_server_follows_them(desk, settings, tmp_path):
    other_settings = settings.replace(data_dir=tmp_path / "other")  # another server: its own folder and index
    ingest([other_settings.docs], other_settings, log=lambda _m: None, progress=False)
    other_db = Database(desk.db.url)
    other = Desk(Pipeline(other_settings), other_db,
                 other_settings.knowledge_path, lambda f: ingest([f], other_settings, log=lambda _m: None, progress=False))
    try:
        entry = desk.add_knowledge("alice", QUESTION, ANSWER)
        other._next_follow = 0.0
        fresh(other)
        cited = other.ask(other.start(), QUESTION).answer
        assert [c.source for c in cited.citations] == [entry.source]  # saved on one server, cited by the other
        assert (other.knowledge_dir / entry.source).read_text(encoding="utf-8") == entry.document()

        edited = other.edit_knowledge(entry.id, "bob", QUESTION, "Le délai est de dix jours ouvrés chez Relaiscorp.")
        desk._next_follow = 0.0
        fresh(desk)
        assert "dix jours" in desk.ask(desk.start(), QUESTION).answer.text and edited.agent == "bob"

        desk.retire_knowledge(entry.id)
        other._next_follow = 0.0
        for d in (desk, other):
            fresh(d)
            answer = d.ask(d.start(), QUESTION).answer
            assert all(c.source != entry.source for c in answer.citations + answer.considered), answer  # retired: never cited
        assert not (other.knowledge_dir / entry.source).exists()
        with pytest.raises(InputError, match="retired"):
            desk.edit_knowledge(entry.id, "alice", QUESTION, ANSWER)
        assert [e["retired"] is not None for e in desk.knowledge_entries()] == [True]
    finally:
        other_db.close()


def test_gaps_group_the_missed_questions_with_the_agents_replies(desk):
    asked = []
    for _ in range(2):  # two users hand off with the same question
        cid = desk.start()
        desk.ask(cid, "Quelle est la politique de retour des colis abîmés ?")
        desk.request_human(cid)
        desk.claim(cid, "alice")
        desk.reply(cid, "alice", "Les colis abîmés sont repris sous 30 jours, frais de port offerts.")
        desk.close(cid, "alice")
        asked.append(cid)
    lone = desk.start()
    turn = desk.ask(lone, "Combien de conversations le chatbot gérait-il par mois ?")
    desk.feedback(lone, turn.bot_message_id, -1, "wrong")
    gaps = desk.gaps()
    assert [g["users"] for g in gaps] == [2, 1]  # most users first
    top = gaps[0]
    assert top["question"] == "Quelle est la politique de retour des colis abîmés ?" and top["why"] == {"handoff": 2}
    assert {q["conversation_id"] for q in top["questions"]} == set(asked)
    assert [r["text"] for r in top["replies"]] == ["Les colis abîmés sont repris sous 30 jours, frais de port offerts."] * 2
    assert top["replies"][0]["words"] == ["30 jours"]
    assert gaps[1]["why"] == {"disliked": 1}


@pytest.mark.parametrize("answer, why", [
    ({"outcome": "abstain", "abstained": True}, "abstained"),
    ({"outcome": "closest", "abstained": True}, "closest"),  # sources shown, no claim: a gap of its own kind
    ({"outcome": "answer", "abstained": False}, None),
    ({"abstained": True}, "abstained"),  # stored before the three outcomes
    ({"abstained": False}, None),
])
def test_a_gap_says_whether_the_bot_abstained_or_showed_closest_passages(answer, why):
    assert _no_answer(answer) == why


def test_eval_cases_from_the_desk_are_exported_for_the_runner(desk, settings):
    entry = desk.add_knowledge("alice", QUESTION, ANSWER)
    with pytest.raises(InputError, match="not in the saved answer: trente"):
        desk.save_case("alice", "Sous combien de jours Relaiscorp rembourse-t-elle ?", ["trente"], entry.id)
    case = desk.save_case("alice", "Sous combien de jours Relaiscorp rembourse-t-elle ?", ["quatorze jours"], entry.id)
    assert case.source == entry.source
    sets = desk_sets([settings.docs, type(settings.docs)("desk")], settings.replace(database_url=desk.db.url))
    (_, none), (after, extra), (before, no_extra) = sets
    assert none == () and no_extra == () and extra[0].joinpath(entry.source).is_file()
    loaded = load_cases(after)
    assert [(c.id, c.expected_sources, c.answer_contains) for c in loaded] == [
        (f"desk-{case.id}", (entry.source,), ("quatorze jours",))]
    assert before.read_text() == after.read_text()
    desk.retire_knowledge(entry.id)
    with pytest.raises(InputError, match="no eval case"):
        desk.cases.export(settings.data_dir / "x.jsonl")  # a retired entry's case could only fail: left out


def test_suggested_words_come_from_the_reply():
    assert suggest_words("Le délai est de 14 jours ouvrés.", "Quel délai ?") == ["14 jours"]
    assert suggest_words("Le délai est de quatorze jours ouvrés.", "Quel est le délai ?") == ["quatorze jours ouvrés"]
    assert suggest_words("Écrivez au service client, par courrier.", "Comment écrire au service ?") == ["client, par courrier", "Écrivez"]


def test_the_same_question_threshold_is_fitted_on_labelled_pairs():
    lines = (ROOT / "eval" / "cases" / "tuning.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    same, different = labelled_pairs(cases)
    assert ("Combien de conversations le chatbot gérait-il par mois ?",
            "How many conversations a month did Klarna's AI assistant handle?") in same
    assert not set(same) & set(different) and len(same) == 7
    assert load_space("hash") is not None and load_space("no-such-embedder") is None


@pytest.mark.slow
def test_gaps_group_paraphrases_and_french_english_pairs_with_e5():
    from rag.embeddings import make_embeddings

    embedder = make_embeddings("e5-small")
    matcher = Matcher(embedder.embed_query, load_space("e5-small"))
    topics = {
        "refund": ["Comment puis-je me faire rembourser ma commande ?", "How do I get a refund for my order?"],
        "hours": ["Quels sont vos horaires d'ouverture ?", "What are your opening hours?"],
        "belgium": ["Livrez-vous en Belgique ?", "Do you ship to Belgium?", "Est-ce que vous expédiez vers la Belgique ?"],
        "delay": ["Quel est le délai de remboursement chez Relaiscorp ?", "Combien de temps faut-il pour être remboursé par Relaiscorp ?",
                  "How long does a Relaiscorp refund take?"],
    }
    topic_of = {q: t for t, qs in topics.items() for q in qs}
    missed = [Missed(f"c{i}", i, q, 1000.0 - i, "handoff") for i, q in enumerate(topic_of)]
    groups = group(missed, matcher)
    assert sorted(sorted(q.text for q in g) for g in groups) == sorted(sorted(qs) for qs in topics.values())


def test_entries_saved_as_files_by_an_earlier_relais_move_into_the_database(pipeline, settings, database):
    folder = settings.knowledge_path
    folder.mkdir(parents=True)
    (folder / "2026-03-02-quel-est-le-delai-1a2b3c4d.md").write_text(f"# {QUESTION}\n\ndate 2026-03-02 Réponse de alice : {ANSWER}\n",
                                                                    encoding="utf-8")
    (folder / "notes.md").write_text("# Notes\n\nSomething else.\n", encoding="utf-8")  # not an entry: left alone
    desk = Desk(pipeline, database, folder, lambda f: ingest([f], settings, log=lambda _m: None, progress=False))
    [entry] = desk.knowledge.entries()
    assert (entry.agent, entry.question, entry.answer, entry.day) == ("alice", QUESTION, ANSWER, "2026-03-02")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md", entry.source]
    fresh(desk)
    assert [c.source for c in desk.ask(desk.start(), QUESTION).answer.citations] == [entry.source]


def test_the_fit_is_reproducible(tmp_path, monkeypatch):
    """training/similar.py on the tuning cases gives the committed hash-embedder entry of rag/similar.json, exactly."""
    import training.similar

    out = tmp_path / "similar.json"
    monkeypatch.setattr(training.similar, "FITTED", out)
    assert training.similar.main(["--embeddings", "hash", "--cases", str(ROOT / "eval" / "cases" / "tuning.jsonl")]) == 0
    fitted = json.loads(out.read_text())["hash"]
    shipped = json.loads((ROOT / "rag" / "similar.json").read_text())["hash"]
    assert fitted["threshold"] == shipped["threshold"] and fitted["mean"] == shipped["mean"] and fitted["drop"] == shipped["drop"]
