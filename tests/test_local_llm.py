"""The LLM path against a real model: llama.cpp's server with Qwen2.5-Coder-0.5B (prepared by `make llm`), through the
same OpenAI-compatible code as any hosted model. Whatever the model writes, nothing reaches the user that its cited
passage does not hold."""

from __future__ import annotations

import os
import re

import pytest

from rag.local_llm import DEFAULT, MODELS, NICE, LocalServer, model_path, prepare
from rag.pipeline import Pipeline
from rag.schema import Answer
from rag.verify import missing_facts

from .conftest import ROOT

pytestmark = pytest.mark.slow
QUESTIONS = [
    "Combien de conversations le chatbot de Klarna gérait-il par mois ?",
    "Combien Air Canada a-t-elle dû rendre à son client ?",
    "Quel âge a le PDG de Klarna ?",  # off-corpus: the documents do not say
]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    path = model_path(ROOT / "data", DEFAULT)
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make llm` (make test does)")
    pytest.importorskip("llama_cpp", reason="run `make llm`: it installs llama-cpp-python[server]")  # make test installs it
    server = LocalServer(path, log=tmp_path_factory.mktemp("llm") / "server.log")
    with server:
        yield server


def test_the_server_runs_below_the_apps_priority(local_server):
    # the check the user waits for is not slowed by the model writing its next sentence on the same cores
    assert os.getpriority(os.PRIO_PROCESS, local_server.process.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)


def test_prepare_keeps_a_checked_file(tmp_path):
    path = model_path(ROOT / "data", DEFAULT)
    before = path.stat().st_mtime
    assert prepare(ROOT / "data", DEFAULT) == path and path.stat().st_mtime == before  # right already: kept
    assert path.stat().st_size == MODELS[DEFAULT].size


def test_a_real_model_says_nothing_its_passages_do_not_hold(e5_pipeline, local_server):
    p = Pipeline(e5_pipeline.settings.replace(llm=f"openai:{DEFAULT}", llm_base_url=local_server.url, llm_api_key="local",
                                              llm_timeout=120.0))
    for question in QUESTIONS:
        items = list(p.stream(question))
        shown, answer = "".join(i for i in items if isinstance(i, str)), items[-1]
        assert isinstance(answer, Answer)
        print(f"\n{question}\n  -> [{answer.outcome}, {answer.answerer}] {answer.text[:200]}")
        if answer.answerer.startswith("openai:"):  # the model's own sentences survived the check
            for sentence in re.split(r"(?<=[.!?])\s+", answer.text):
                cited = [c for c in answer.citations if f"[{c.n}]" in sentence]
                assert cited, sentence
                assert any(missing_facts(sentence, c.passage, c.title) == [] for c in cited), sentence
            for piece in filter(str.strip, re.split(r"(?<=[.!?])\s+", shown)):  # streamed: verified sentences only
                assert re.search(r"\[\d+\]", piece), f"streamed without a citation: {piece!r}"
