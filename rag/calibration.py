"""Trust the operator can set: P(this answer is right) from what the answerer weighed, and the thresholds that a
target precision picks.

A calibrator is a logistic regression over an answerer's signals (rag.answer.signals: its score and margin, where
the passage ranked, whether both retrievers found it, languages, …), fitted on questions whose right answer is
known: the public dev split (PIAF and SQuAD 2.0 articles the reader never trained on, with off-corpus questions) and
the tuning cases, by `python -m training.calibrate`, or on an operator's own cases by `eval/run.py --calibrate`. No
weight is set by hand; its regularisation is chosen by cross-validation. The file keeps the calibration set's
(probability, right) pairs, so a threshold is derived from any target when it loads:

- answer when P >= the lowest probability whose answers reach RAG_TARGET_PRECISION (0.9) on that set;
- "closest passages" when P >= the lowest one whose would-be answers under the answer threshold reach
  RAG_CLOSEST_PRECISION (0.5): the sentences the answer would have quoted, shown as sources with no claim, and a
  person offered;
- otherwise abstain and offer a person.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .answer import abstention, closest
from .errors import ConfigError
from .schema import Answer

SHIPPED = Path(__file__).parent / "calibrators"  # one file per answerer, made by python -m training.calibrate


@dataclass
class Calibrator:
    names: tuple[str, ...]  # the signals it reads, in its order
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    probabilities: np.ndarray  # on the calibration set, with
    right: np.ndarray  # whether each of those answers was right (1) or not (0)
    about: dict = field(default_factory=dict)  # where it was fitted, on what, with which figures

    def probability(self, signals: dict[str, float]) -> float:
        z = (np.asarray([signals.get(n, 0.0) for n in self.names], dtype=np.float64) - self.mean) / self.scale
        x = expand(z[None, :])[0] if len(self.weights) > len(self.names) else z
        return float(1.0 / (1.0 + math.exp(-float(np.clip(x @ self.weights + self.bias, -30, 30)))))

    def threshold(self, target: float, below: float = math.inf) -> float:
        return threshold_for(self.probabilities, self.right, target, below)

    def to_json(self) -> dict:
        return {"names": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias,
                "calibration_set": {"probabilities": [round(float(p), 5) for p in self.probabilities],
                                    "right": [int(r) for r in self.right]},
                "about": self.about}

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Calibrator:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(tuple(data["names"]), np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["weights"]),
                       float(data["bias"]), np.asarray(data["calibration_set"]["probabilities"]),
                       np.asarray(data["calibration_set"]["right"]), data.get("about", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the calibration file {path} ({exc}): make it again with "
                              "`python eval/run.py --calibrate` (your cases) or `python -m training.calibrate`") from None


def threshold_for(probabilities: np.ndarray, right: np.ndarray, target: float, below: float = math.inf) -> float:
    """The lowest probability whose answers (every one at or above it, and under `below`) are right at least `target`
    of the time; `below` (or above every probability: nothing) when no cut reaches the target."""
    keep = probabilities < below
    probabilities, right = probabilities[keep], right[keep]
    order = np.argsort(-probabilities, kind="stable")
    p, r = probabilities[order], right[order].astype(np.float64)
    precision = np.cumsum(r) / np.arange(1, len(r) + 1)
    ok = [i for i in range(len(p)) if precision[i] >= target and (i + 1 == len(p) or p[i + 1] < p[i])]
    return float(p[ok[-1]]) if ok else min(below, 1.0 + 1e-9)


def expand(z: np.ndarray) -> np.ndarray:
    """The standardised signals and their pairwise products (squares included): how one signal's meaning depends on
    another (a high similarity means less across languages, say), still one weight each."""
    i, j = np.triu_indices(z.shape[1])
    return np.hstack([z, z[:, i] * z[:, j]])


def group_folds(groups: list[str] | None, n: int, folds: int) -> np.ndarray:
    """Fold of each row: whole groups (articles) per fold, largest first into the smallest fold; row index mod
    `folds` without groups."""
    if groups is None:
        return np.arange(n) % folds
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    filled, of = np.zeros(folds), {}
    for g in sorted(sizes, key=lambda g: (-sizes[g], g)):
        of[g] = int(np.argmin(filled))
        filled[of[g]] += sizes[g]
    return np.asarray([of[g] for g in groups])


def fit(features: np.ndarray, right: np.ndarray, names: tuple[str, ...], about: dict | None = None,
        l2_grid: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0), folds: int = 5,
        groups: list[str] | None = None) -> Calibrator:
    """Logistic regression over the signals and their pairwise products (Newton's method), with the L2 strength of
    the best cross-validated log-loss; folds hold whole `groups` (articles) when given: questions of one article are
    alike, and a fold that shares articles with the fit flatters it."""
    x, y = np.asarray(features, dtype=np.float64), np.asarray(right, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = expand((x - mean) / scale)
    fold = group_folds(groups, len(y), folds)
    losses = {}
    for l2 in l2_grid:
        loss = 0.0
        for k in range(folds):
            w, b = newton_logistic(z[fold != k], y[fold != k], l2)
            p = np.clip(_sigmoid(z[fold == k] @ w + b), 1e-6, 1 - 1e-6)
            loss -= float(np.sum(y[fold == k] * np.log(p) + (1 - y[fold == k]) * np.log(1 - p)))
        losses[l2] = loss / len(y)
    l2 = min(losses, key=losses.get)
    w, b = newton_logistic(z, y, l2)
    probabilities = _sigmoid(z @ w + b)
    return Calibrator(tuple(names), mean, scale, w, float(b), probabilities, y.astype(int),
                      {**(about or {}), "l2": l2, "cv_log_loss": round(losses[l2], 4), "n": len(y), "right": int(y.sum())})


def cross_validated(features: np.ndarray, right: np.ndarray, names: tuple[str, ...], target: float, folds: int = 5) -> dict:
    """Whether a calibration holds on cases its fit did not see: each fold answered by a calibrator fitted on the other
    folds, at the threshold `target` picks there. The precision of the answers shown that way is what the operator can
    expect of the threshold on new questions like these (a few dozen easy cases promise more than they hold)."""
    x, y = np.asarray(features, dtype=np.float64), np.asarray(right, dtype=int)
    fold = np.arange(len(y)) % folds
    shown = right_shown = 0
    for k in range(folds):
        train = fold != k
        if len(set(y[train].tolist())) < 2:
            continue
        c = fit(x[train], y[train], names)
        at = c.threshold(target)
        p = np.asarray([c.probability(dict(zip(names, row))) for row in x[fold == k]])
        shown += int((p >= at).sum())
        right_shown += int(y[fold == k][p >= at].sum())
    return {"folds": folds, "cases": len(y), "shown": shown, "target": target,
            "precision": round(right_shown / shown, 4) if shown else None}


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(v, -30, 30)))


def newton_logistic(z: np.ndarray, y: np.ndarray, l2: float, steps: int = 50) -> tuple[np.ndarray, float]:
    a = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = _sigmoid(a @ w)
        grad = a.T @ (p - y) + penalty * w
        hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w[:-1], float(w[-1])


@dataclass(frozen=True)
class Decision:
    """The calibrator and the two thresholds the targets picked, for one answerer."""

    calibrator: Calibrator
    answer_at: float
    closest_at: float

    def apply(self, answer: Answer) -> Answer:
        """Answer, closest passages, or abstain, by P(right); only for an answer its answerer could have given."""
        if not any(n in answer.signals for n in self.calibrator.names):  # nothing it reads: no passage, or no answerer's
            return answer
        p = round(self.calibrator.probability(answer.signals), 4)
        if answer.outcome == "answer" and p >= self.answer_at:
            return dataclasses.replace(answer, confidence=p)
        if p >= self.closest_at and (answer.citations or answer.considered):
            return closest(answer, p)
        return abstention(answer.language, p, considered=answer.citations or answer.considered, signals=answer.signals)


def load_decision(path: Path | None, answerer: str, target: float, closest_target: float,
                  embeddings: str = "e5-small") -> Decision | None:
    """The calibration for `answerer`: `path` (RAG_CALIBRATION) when set, else the one shipped for it, else None (the
    answerer's own threshold decides). A calibration holds for the signals it was fitted on: the shipped one is used
    only with the embedder it was fitted with; a file made with another one is refused."""
    p = Path(path) if path else SHIPPED / f"{answerer}.json"
    if not p.is_file():
        if path:
            raise ConfigError(f"RAG_CALIBRATION={path}: no such file; make it with `python eval/run.py --calibrate {path} --cases …`")
        return None
    calibrator = Calibrator.load(p)
    fitted_for = calibrator.about.get("answerer", answerer)
    if fitted_for != answerer:  # another answerer's signals: its probabilities would mean nothing here
        raise ConfigError(f"{p} was fitted for the {fitted_for} answerer, not {answerer} (RAG_READER): calibrate again with "
                          f"`python eval/run.py --calibrate {p} --cases …` under this RAG_READER, or unset RAG_CALIBRATION")
    fitted_with = calibrator.about.get("embeddings", "e5-small")
    if fitted_with != embeddings:
        if path:
            raise ConfigError(f"RAG_CALIBRATION={path} was fitted with embedder {fitted_with!r}, not {embeddings!r}: "
                              f"calibrate again with `python eval/run.py --calibrate {path} --cases …`, or unset it")
        return None
    answer_at = calibrator.threshold(target)
    return Decision(calibrator, answer_at, calibrator.threshold(closest_target, below=answer_at))
