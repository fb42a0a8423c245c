"""Relais: retrieval-augmented answers with cited passages, and a human one click away."""

from .errors import (
    ConfigError,
    EmbedderMismatchError,
    EmbedderUnavailableError,
    IndexMissingError,
    LLMError,
    RelaisError,
)
from .pipeline import Pipeline
from .schema import Answer, Citation, Hit
from .settings import Settings

__all__ = [
    "Answer", "Citation", "ConfigError", "EmbedderMismatchError", "EmbedderUnavailableError", "Hit",
    "IndexMissingError", "LLMError", "Pipeline", "RelaisError", "Settings",
]
