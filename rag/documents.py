"""Load .txt, .md, .html and .pdf files into clean text with a title and a date; refuse bad files with a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

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
class Block:
    """One line of a document's cleaned text and what it is: structure kept from the file for chunking and quoting."""

    start: int
    end: int
    kind: str  # "heading", "item" (a list item or numbered step, with its marker), "row" (a table row), "link" (an
    # item that is only a link: a menu or a list of references) or "text"
    level: int = 0  # a heading's level (1-6), an item's list depth (1 = top level)


@dataclass(frozen=True)
class SourceDoc:
    path: str  # as stored in the index (relative to the working folder when inside it)
    source: str  # file name, as cited
    title: str
    date: str | None
    text: str  # cleaned text: every chunk offset points into this
    blocks: tuple[Block, ...] = ()  # one per line of `text`; empty: every line is plain text


Line = tuple[str, int, str]  # (kind, level, text) before cleaning


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
        lines = _plain_lines(text)
    else:
        if b"\x00" in raw[:8192]:
            raise SkipFile("binary content, not text: convert it to .txt, .md, .html or .pdf")
        try:
            decoded = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SkipFile(f"not UTF-8 text (bad byte at offset {exc.start}): re-save it as UTF-8") from None
        if suffix in {".html", ".htm"}:
            title, lines = _html(decoded)
        else:
            title, lines = None, _markdown_lines(decoded) if suffix in {".md", ".markdown"} else _plain_lines(decoded)
    kept, date = clean(lines)
    if not kept:
        raise SkipFile("no text left after cleaning")
    body, blocks, offset = [], [], 0
    for kind, level, line in kept:
        body.append(line)
        blocks.append(Block(offset, offset + len(line), kind, level))
        offset += len(line) + 1
    if title is None:
        title = kept[0][2].lstrip("# ").strip()
    return SourceDoc(path=stored_path or str(path), source=path.name, title=title[:200], date=date, text="\n".join(body),
                     blocks=tuple(blocks))


def clean(lines: list[Line]) -> tuple[list[Line], str | None]:
    """Drop furniture and navigation lines and control characters; return the kept lines and the first visible date."""
    date = None
    kept: list[Line] = []
    for kind, level, line in lines:
        line = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", line).replace("\u00a0", " ").strip()
        line = re.sub(r"[ \t]+", " ", line)
        if not line or line in ("-", "|"):
            continue
        prefixed = _DATE_PREFIX.match(line)
        if prefixed:
            date = date or prefixed.group(1)
            line = line[prefixed.end():]
        if date is None and len(kept) < 6 and (m := _DATE.search(line)):
            date = "-".join(g for g in m.groups() if g)
        if _FURNITURE.match(line) or (kind == "text" and _NAVIGATION.match(line)):
            continue
        kept.append((kind, level, line))
    return kept, date


# A breadcrumb or menu line: three or more short labels joined by > › | (no sentence in it).
_NAVIGATION = re.compile(r"^(?:[^.!?:;|>›]{1,40} (?:>|›|\|) ){2,}[^.!?:;|>›]{1,40}$")
_ITEM = re.compile(r"^(\s*)(?:[-*+•–▪◦]|\d{1,2}[.)])\s+\S")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _plain_lines(text: str) -> list[Line]:
    """Lines of plain text (or a PDF's): bulleted and numbered lines are list items, the rest is text."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        item = _ITEM.match(line)
        out.append(("item", 1 + len(item.group(1).expandtabs(4)) // 2, line) if item else ("text", 0, line))
    return out


def _markdown_lines(text: str) -> list[Line]:
    """Markdown: `#` headings (read without their marks), list items, table rows (cells joined by |)."""
    out = []
    for kind, level, line in _plain_lines(text):
        if heading := _MD_HEADING.match(line):
            out.append(("heading", len(heading.group(1)), heading.group(2)))
        elif _MD_RULE.match(line) and "|" in line:
            continue
        elif line.strip().startswith("|") and line.strip().endswith("|"):
            out.append(("row", 0, " | ".join(c.strip() for c in line.strip().strip("|").split("|"))))
        else:
            out.append((kind, level, line))
    return out


class _TextOfHtml(HTMLParser):
    """Lines of an HTML page with their kind: headings, list items (with "- " or "1. "), table rows (cells joined by
    " | "), text; the title from <title> or the first <h1>."""

    _SKIP = frozenset({"script", "style", "nav", "footer", "header", "aside", "noscript", "form", "svg", "template", "button"})
    _BREAK = frozenset({"p", "div", "br", "section", "article", "blockquote", "pre", "dl", "dt", "dd", "hr", "figure",
                        "figcaption", "details", "summary", "main", "table", "thead", "tbody", "caption"})
    _HEADINGS: ClassVar[dict[str, int]] = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[Line] = []
        self.title: str | None = None
        self._buffer: list[str] = []
        self._linked = 0  # characters of the line being built that are a link's text
        self._in_link = 0
        self._skip = 0
        self._in_title = False
        self._h1: list[str] | None = None
        self._context: list[list] = []  # open headings, items and rows: [kind, level, marker still to write]
        self._lists: list[list] = []  # open lists: [ordered, count]
        self._cells = 0

    def _flush(self) -> None:
        raw = "".join(self._buffer)
        text = " ".join(raw.split())
        linked = self._linked >= 0.8 * len(raw.strip()) if text else False
        self._buffer, self._linked = [], 0
        if not text:
            return
        kind, level = "text", 0
        items = [c for c in self._context if c[0] == "item"]
        if self._context:
            top = self._context[-1]
            kind, level = top[0], top[1]
            if top[2]:
                text, top[2] = top[2] + text, ""
        if items and kind == "heading" and linked:  # a card: a linked title, a teaser, a date (another page's)
            items[-1][3] = True
        if any(c[3] for c in items):
            return  # the whole card is navigation: dropped
        if kind == "item" and linked:
            kind = "link"
        self.lines.append((kind, level, text))

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
            return
        if tag == "title":
            self._in_title = True
        elif tag == "a":
            self._in_link += 1
        elif tag in self._HEADINGS:
            self._flush()
            self._context.append(["heading", self._HEADINGS[tag], "", False])
            if tag == "h1" and self.title is None:
                self._h1 = []
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append([tag == "ol", 0])
        elif tag == "li":
            self._flush()
            self._close_open("item", depth=len(self._lists))  # `</li>` may be left out: a new item ends the last one
            ordered = bool(self._lists and self._lists[-1][0])
            if self._lists:
                self._lists[-1][1] += 1
            marker = f"{self._lists[-1][1]}. " if ordered else "- "
            self._context.append(["item", max(1, len(self._lists)), marker, False])  # [..., is a card]
        elif tag == "tr":
            self._flush()
            self._close_open("row")  # likewise `</tr>`
            self._context.append(["row", 0, "", False])
            self._cells = 0
        elif tag in ("td", "th"):
            if self._cells:
                self._buffer.append(" | ")
            self._cells += 1
        elif tag in self._BREAK:
            if self._context and self._context[-1][0] == "row":
                self._buffer.append(" ")
            else:
                self._flush()

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag == "title":
            self._in_title = False
        elif tag == "a":
            self._in_link = max(0, self._in_link - 1)
        elif tag in self._HEADINGS or tag in ("li", "tr"):
            self._flush()
            kind = "heading" if tag in self._HEADINGS else "item" if tag == "li" else "row"
            while self._context:  # close up to the matching element (lenient with unclosed inner ones)
                if self._context.pop()[0] == kind:
                    break
            if tag == "h1" and self._h1 is not None:
                self.title = self.title or " ".join("".join(self._h1).split()) or None
                self._h1 = None
        elif tag in ("ul", "ol"):
            self._flush()
            self._close_open("item", depth=len(self._lists))  # the list's items end with it
            if self._lists:
                self._lists.pop()
        elif tag == "table":
            self._flush()
            self._close_open("row")
        elif tag in self._BREAK and not (self._context and self._context[-1][0] == "row"):
            self._flush()

    def _close_open(self, kind: str, depth: int | None = None) -> None:
        """Drop open elements of `kind` (at list `depth` or deeper, for items) from the top of the context."""
        while self._context and self._context[-1][0] == kind and (depth is None or self._context[-1][1] >= max(1, depth)):
            self._context.pop()

    def handle_data(self, data):
        if self._in_title:
            self.title = self.title or " ".join(data.split()) or None
        elif not self._skip:
            self._buffer.append(data)
            self._linked += len(data.strip()) + (1 if data.strip() and data != data.strip() else 0) if self._in_link else 0
            if self._h1 is not None:
                self._h1.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _html(markup: str) -> tuple[str | None, list[Line]]:
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    return parser.title, parser.lines


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
