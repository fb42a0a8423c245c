"""Knowledge-base entries: an agent's answer written as a document that ingest reads, so the bot cites it next time."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from ..documents import SkipFile, load
from ..errors import InputError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def save_entry(folder: Path, agent: str, question: str, answer: str) -> Path:
    """Each save gets its own new file (never an overwrite, however many agents save at once); an entry that ingest
    would skip (a NUL or other control character makes it binary) is refused instead of saved unread."""
    if bad := _CONTROL.search(question + answer):
        raise InputError(f"the entry holds a control character ({bad.group()!r}); ingest would skip it: remove it and save again")
    day = time.strftime("%Y-%m-%d")
    slug = re.sub(r"[^a-z0-9]+", "-", question.lower())[:60].strip("-") or "entry"
    folder.mkdir(parents=True, exist_ok=True)
    text = f"# {' '.join(question.split())}\n\ndate {day} Réponse de {agent} : {answer}\n"
    while True:
        path = folder / f"{day}-{slug}-{secrets.token_hex(4)}.md"
        try:
            with path.open("x", encoding="utf-8") as f:  # exclusive: fails rather than overwrite
                f.write(text)
            break
        except FileExistsError:
            continue
    try:
        load(path, max_bytes=10**7)
    except SkipFile as reason:
        path.unlink(missing_ok=True)
        raise InputError(f"the entry cannot be saved: ingest would skip it ({reason})") from None
    return path
