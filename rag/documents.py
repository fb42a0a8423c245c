"""Load .txt, .md, .html and .pdf files into clean text with a title and a date; refuse bad files with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"}

# Whole lines that are page furniture (navigation, widgets, image captions), never article text.
_FURNITURE = re.compile(
    r"^(?:back to top(?: button)?|close|fermer|image|post-image-\d+|notez ce sujet|illustration générée par ia"
    r"|sur le même thème|voir tous les articles.*|partager|share|lire aussi|read more|publicité|advertisement"
    r"|par .{1,60}\.?\s*publié le|\d{4}/\d{2}/\d{2}(?: \d{2}:\d{2})?|[a-zéû]+\.? \d{1,2}, \d{4})$",
    re.IGNORECASE,
)
_DATE_PREFIX = re.compile(r"^date\s+(\d{4}-\d{2}(?:-\d{2})?)\s+", re.IGNORECASE)
_DATE = re.compile(r"\b(20\d{2}|19\d{2})[/-](0[1-9]|1[0-2])(?:[/-](0[1-9]|[12]\d|3[01]))?\b")


class SkipFile(Exception):
    """A file that cannot be ingested; the message is the one-line reason shown to the user."""


@dataclass(frozen=True)
class SourceDoc:
    path: str  # as stored in the index (relative to the working folder when inside it)
    source: str  # file name, as cited
    title: str
    date: str | None
    text: str  # cleaned text: every chunk offset points into this


def load(path: Path, max_bytes: int, stored_path: str | None = None) -> SourceDoc:
    """Read and clean one file, or raise SkipFile saying why it was left out."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise SkipFile(f"unsupported type {suffix or '(none)'}: use .txt, .md, .html or .pdf")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SkipFile(f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB): split it or raise RAG_MAX_FILE_MB")
        raw = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"unreadable ({exc.strerror or exc}): check the file's permissions") from None
    if not raw.strip():
        raise SkipFile("empty file")
    if suffix == ".pdf":
        title, text = _pdf(raw)
    else:
        if b"\x00" in raw[:8192]:
            raise SkipFile("binary content, not text: convert it to .txt, .md, .html or .pdf")
        try:
            decoded = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SkipFile(f"not UTF-8 text (bad byte at offset {exc.start}): re-save it as UTF-8") from None
        title, text = _html(decoded) if suffix in {".html", ".htm"} else (None, decoded)
        if suffix in {".md", ".markdown"}:  # "# Heading" is read as "Heading"
            text = re.sub(r"(?m)^\s{0,3}#{1,6}\s+", "", text)
    lines, date = clean_lines(text)
    if not lines:
        raise SkipFile("no text left after cleaning")
    body = "\n".join(lines)
    if title is None:
        title = lines[0].lstrip("# ").strip()
    return SourceDoc(path=stored_path or str(path), source=path.name, title=title[:200], date=date, text=body)


def clean_lines(text: str) -> tuple[list[str], str | None]:
    """Drop furniture lines and control characters; return the kept lines and the first visible date."""
    date = None
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", line).replace("\u00a0", " ").strip()
        line = re.sub(r"[ \t]+", " ", line)
        if not line:
            continue
        prefixed = _DATE_PREFIX.match(line)
        if prefixed:
            date = date or prefixed.group(1)
            line = line[prefixed.end():]
        if date is None and len(kept) < 6 and (m := _DATE.search(line)):
            date = "-".join(g for g in m.groups() if g)
        if _FURNITURE.match(line):
            continue
        kept.append(line)
    return kept, date


class _TextOfHtml(HTMLParser):
    _SKIP = {"script", "style", "nav", "footer", "header", "aside", "noscript", "form", "svg", "template"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._skip = 0
        self._in_title = False
        self._h1: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "h1" and self.title is None:
            self._h1 = []
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif tag == "h1" and self._h1 is not None:
            self.title = self.title or " ".join("".join(self._h1).split()) or None
            self._h1 = None
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title = self.title or " ".join(data.split()) or None
        elif not self._skip:
            self.parts.append(data)
            if self._h1 is not None:
                self._h1.append(data)


def _html(markup: str) -> tuple[str | None, str]:
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    return parser.title, "".join(parser.parts)


def _pdf(raw: bytes) -> tuple[str | None, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
        title = reader.metadata.title if reader.metadata and reader.metadata.title else None
    except LimitReachedError as exc:  # a PDF "bomb": pypdf's limits held memory; this file is skipped, the rest ingested
        raise SkipFile(f"PDF too large once decompressed ({exc}): split it or export it as text") from None
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise SkipFile(f"damaged or encrypted PDF ({exc}): export it again") from None
    if not text.strip():
        raise SkipFile("PDF has no extractable text (scanned image?): run OCR first")
    return title, text
