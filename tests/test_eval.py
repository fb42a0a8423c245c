import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from eval.cases import Case, CaseError, load_cases
from eval.metrics import Record, compute, contains_any, regressions
from rag.schema import Answer, Citation, Hit

ROOT = Path(__file__).resolve().parent.parent


def _hit(source, text):
    return Hit(id=text, text=text, source=source, title="t", date=None, score=1.0, start=0, end=len(text))


def test_seed_set_is_large_and_valid():
    cases = load_cases(ROOT / "eval/cases/tuning.jsonl")
    assert len(cases) >= 40
    kinds = {c.expect for c in cases}
    assert kinds == {"answer", "abstain", "handoff"}
    assert any(c.history for c in cases)


@pytest.mark.parametrize("line, message", [
    ("not json", "not valid JSON"),
    ('{"id": "a", "question": "q", "expect": "maybe"}', "expect"),
    ('{"id": "a", "question": "q", "expect": "answer"}', "needs expected_sources"),
])
def test_bad_case_files_say_what_is_wrong(tmp_path, line, message):
    path = tmp_path / "cases.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(CaseError, match=message):
        load_cases(path)


def test_metrics_by_hand():
    good = Case("a", "Combien ?", "answer", ("d.txt",), ("2,3 millions",), ("2,3 millions",))
    off = Case("b", "Capitale ?", "abstain")
    hits = [_hit("x.txt", "rien"), _hit("d.txt", "Il gérait 2,3\u00a0Millions de conversations")]
    cite = Citation(1, "d.txt", "t", None, hits[1].text, hits[1].text, (0, 5), (0, 5), 1.0)
    records = [
        Record(good, hits, Answer("Il gérait 2,3 millions [1]", citations=(cite,)), 10.0),
        Record(off, [], Answer("Je n'ai pas trouvé", abstained=True, handoff="low_confidence"), 30.0),
    ]
    m = compute(records)
    assert (m["hit_at_1"], m["hit_at_5"], m["mrr"]) == (0.0, 1.0, 0.5)
    assert (m["answer_accuracy"], m["citation_precision"], m["abstain_accuracy"]) == (1.0, 1.0, 1.0)
    assert m["false_abstain_rate"] == 0.0 and m["latency_p50_ms"] == 20.0


def test_closest_passages_are_right_when_a_card_holds_the_answer():
    good = Case("a", "Combien ?", "answer", ("d.txt",), ("2,3 millions",), ("2,3 millions",))
    other = Case("c", "Combien de salariés ?", "answer", ("d.txt",), ("3 000",), ("3 000",))
    holds = Citation(1, "d.txt", "t", None, "Klarna gérait 2,3 millions de conversations.", "Klarna gérait", (0, 13), (0, 13), 0.4)
    closest = lambda *cards: Answer("Passages proches", abstained=True, considered=cards, outcome="closest", handoff="closest_passages")
    records = [Record(good, [], closest(holds), 1.0), Record(other, [], closest(holds), 1.0),
               Record(other, [], Answer("Je n'ai pas trouvé", abstained=True, outcome="abstain"), 1.0)]
    m = compute(records)
    assert (m["closest_shown"], m["closest_right"]) == (round(2 / 3, 4), 0.5)  # the abstention is neither
    from eval.metrics import would_be_right

    wrong_first = dataclasses.replace(holds, passage="Klarna a été fondée en 2005.", sentence="Klarna a été fondée en 2005.")
    shown = dataclasses.replace(closest(wrong_first, holds), withheld=1)  # the withheld quote, then the next passage read
    assert compute([Record(good, [], shown, 1.0)])["closest_right"] == 1.0  # a card holds the answer
    assert not would_be_right(Record(good, [], shown, 1.0))  # but the answer it withheld was wrong: the risk curve says so


def test_an_answer_matches_its_figure_however_the_figure_is_spaced():
    # a model writes the passage's "85 %" as "85%", "3 422" as "3422": the same answer
    assert contains_any("85% des projets d'IA échouent [1].", ["85 %"])
    assert contains_any("Klarna comptait 3422 salariés", ["3 422"]) and contains_any("3\u202f422 salariés", ["3422"])
    assert not contains_any("le 15 mai", ["15 %"]) and not contains_any("85 projets", ["85 %"])


def test_regressions_respect_tolerance_and_direction():
    base = {"answer_accuracy": 0.9, "false_abstain_rate": 0.0}
    assert regressions({"answer_accuracy": 0.89, "false_abstain_rate": 0.01}, base, 0.02) == []
    failed = regressions({"answer_accuracy": 0.8, "false_abstain_rate": 0.1}, base, 0.02)
    assert len(failed) == 2


@pytest.mark.slow
def test_gate_fails_on_a_degraded_config(tmp_path):
    """A target precision past 1 makes every answer abstain or give the closest passages: the gate must catch it."""
    env = {"RAG_DATA_DIR": str(tmp_path), "RAG_TARGET_PRECISION": "1.01", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "m.json"
    run = subprocess.run([sys.executable, "eval/run.py", "--cases", "eval/cases/tuning.jsonl", "--config", "hybrid",
                          "--gate", "eval/baseline.json", "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "GATE FAILED" in run.stdout and "answer_accuracy" in run.stdout
    metrics = json.loads(out.read_text())["tuning"]
    assert metrics["false_abstain_rate"] == 1.0 and set(metrics) >= {"n_cases", "hit_at_1", "configs", "failures"}


def test_shown_sentences_with_facts_their_passage_lacks_are_counted():
    from eval.metrics import unsupported_facts

    passage = "Air Canada a dû rendre 880 dollars au client."
    cite = Citation(1, "d.txt", "t", None, passage, passage, (0, len(passage)), (0, len(passage)), 1.0)
    assert unsupported_facts(Answer("Air Canada a rendu 880 dollars [1].", citations=(cite,))) == 0
    assert unsupported_facts(Answer("Air Canada a rendu 45 000 dollars [1]. Elle a rendu 880 dollars [1].", citations=(cite,))) == 1
    assert unsupported_facts(Answer("Rien [1].", abstained=True, citations=(cite,))) == 0
    other = Citation(2, "b.md", "B", None, "Klarna a licencié 700 employés en 2022.", "Klarna a licencié 700 employés en 2022.",
                     (0, 39), (0, 39), 1.0)
    quotes = "Air Canada a rendu 880 dollars au client. [1] Klarna a licencié 700 employés en 2022. [2]"  # markers after periods
    assert unsupported_facts(Answer(quotes, citations=(cite, other))) == 0  # each quote judged against its own passage
    inside = "Air Canada [1] et Klarna [2] ont rendu 45 000 dollars."  # markers inside one sentence: it cites both
    assert unsupported_facts(Answer(inside, citations=(cite, other))) == 1
    # quoted list items end with ";" or ")" or nothing: the next quote is still judged against its own passage only
    item = Citation(3, "c.html", "C", None, "- La loi du 20 novembre 2013 ;", "- La loi du 20 novembre 2013 ;", (0, 30), (0, 30), 1.0)
    items = "- La loi du 20 novembre 2013 ; [3] Klarna a licencié 700 employés en 2022. [2]"
    assert unsupported_facts(Answer(items, citations=(item, other))) == 0
    assert unsupported_facts(Answer("- La loi du 20 novembre 2013 [3] - Klarna a licencié 700 employés en 2022 [2]",
                                    citations=(item, other))) == 0
    assert unsupported_facts(Answer("- La loi du 21 novembre 2013 ; [3] Klarna a licencié 700 employés en 2022. [2]",
                                    citations=(item, other))) == 1
    assert unsupported_facts(Answer("Klarna a licencié 700 employés en 2022 [2] 20 novembre 2013 ; [3]", citations=(item, other))) == 0
    brackets = "Air Canada (la compagnie) [1] et Klarna (la fintech) [2] ont rendu 45 000 dollars."  # one sentence, both cited
    assert unsupported_facts(Answer(brackets, citations=(cite, other))) == 1
    assert regressions({"unsupported_facts": 1}, {"unsupported_facts": 0}, 0.02)  # the gate fails on one


def test_the_ceiling_counts_an_answer_only_when_a_unit_of_the_top_passages_holds_it(pipeline):
    from eval.ceiling import ceiling

    there = Case("a", "Combien de conversations le chatbot de Klarna gérait-il par mois ?", "answer", ("x",), ("2,3 millions",), ("2,3 millions",))
    nowhere = Case("b", "Combien de conversations le chatbot de Klarna gérait-il par mois ?", "answer", ("x",), ("17 milliards",), ("17 milliards",))
    off = Case("c", "Quelle est la capitale du Pérou ?", "abstain")
    shares = ceiling(pipeline, [there, nowhere, off], [1, 20])
    assert shares[20] == 0.5 and shares[1] <= shares[20]  # the off-corpus case is not counted; "17 milliards" is nowhere
