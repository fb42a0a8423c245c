"""python eval/helpcenter.py --out data/helpcenter [--package FILE.tgz | --package fiches-travail.json]

Builds a real help-center corpus for evaluation: the French labour ministry's "fiches pratiques du travail",
published on npm as @socialgouv/fiches-travail-data (Apache 2.0). Each page of its data/fiches-travail.json
becomes one HTML file that keeps the page's structure: <title>, an <h1>, the intro, then each section as an
<h2> followed by its HTML (lists, steps, tables and sub-headings as they are; scripts, styles, images and
empty wrappers removed). File names come from the page URL's slug, so a second run writes the same files.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

PACKAGE = "@socialgouv/fiches-travail-data"
DATA_MEMBER = "package/data/fiches-travail.json"
GENERATOR = "relais eval/helpcenter.py"  # marks the files this script owns (stale ones are removed)

_DROP = {"script", "style", "noscript", "svg", "iframe", "template", "object", "video", "audio", "canvas", "map"}
_VOID_DROP = {"img", "source", "track", "embed", "input", "link", "meta", "wbr", "area", "param"}
_KEEP = {
    "p", "ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
    "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "a", "br", "hr", "blockquote", "sup", "sub",
    "time", "div", "span", "section", "figure", "figcaption", "abbr", "code", "pre", "small",
}
_VOID = {"br", "hr"}
_ATTRS = {"a": {"href"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "time": {"datetime"},
          "ol": {"start"}, "abbr": {"title"}}
# Tags that may be removed when nothing is left inside them (a <td> or <li> stays: an empty cell is structure).
_WRAPPERS = {"div", "span", "section", "p", "strong", "em", "b", "i", "u", "a", "figure", "blockquote", "sup", "sub",
             "small", "ul", "ol", "dl", "h2", "h3", "h4", "h5", "h6", "time", "abbr", "code"}
_BLOCK = {"p", "ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
          "h2", "h3", "h4", "h5", "h6", "div", "section", "figure", "figcaption", "blockquote", "pre", "hr"}


class HelpCenterError(Exception):
    """The package could not be fetched or read; the message says what to do."""


@dataclass(frozen=True)
class Page:
    name: str  # file name, from the URL slug
    title: str
    url: str
    date: str | None  # ISO
    html: str


@dataclass
class _Node:
    tag: str
    attrs: list[tuple[str, str]]
    children: list  # of _Node | str


class _Cleaner(HTMLParser):
    """Parses a fragment into a small tree of kept tags; unknown tags are unwrapped, dropped ones vanish."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("", [], [])
        self.stack = [self.root]
        self.dropping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _DROP:
            self.dropping += 1
            return
        if self.dropping or tag in _VOID_DROP or tag not in _KEEP:
            return
        allowed = _ATTRS.get(tag, set())
        kept = [(k, v) for k, v in attrs if k in allowed and v is not None and not (k == "href" and not _safe_href(v))]
        node = _Node(tag, kept, [])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag in _DROP:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in _KEEP or tag in _VOID:
            return
        for depth in range(len(self.stack) - 1, 0, -1):  # close up to the matching open tag, as browsers do
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if not self.dropping:
            self.stack[-1].children.append(data)


def _safe_href(href: str) -> bool:
    return bool(re.match(r"^(https?:|mailto:|/|#)", href.strip(), re.IGNORECASE))


def _prune(node: _Node) -> bool:
    """Drop empty wrappers below node; True when node itself has nothing left to show."""
    kept = []
    for child in node.children:
        if isinstance(child, str) or not _prune(child):
            kept.append(child)
    node.children = kept
    has_text = any(isinstance(c, str) and c.strip() for c in kept)
    has_child = any(isinstance(c, _Node) and c.tag not in _VOID for c in kept)
    return node.tag in _WRAPPERS and not has_text and not has_child


def _render(node: _Node) -> str:
    out = []
    for child in node.children:
        if isinstance(child, str):
            out.append(html.escape(re.sub(r"\s+", " ", child) if child.strip() == "" else child, quote=False))
            continue
        attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in child.attrs)
        if child.tag in _VOID:
            out.append(f"<{child.tag}{attrs}>" + ("\n" if child.tag == "hr" else ""))
        else:
            close = "\n" if child.tag in _BLOCK else ""
            out.append(f"<{child.tag}{attrs}>{_render(child)}</{child.tag}>{close}")
    return "".join(out)


def clean_fragment(markup: str) -> str:
    """The fragment's HTML with scripts, styles, images, attributes other than links and empty wrappers removed."""
    parser = _Cleaner()
    parser.feed(markup or "")
    parser.close()
    _prune(parser.root)
    return re.sub(r"\n{2,}", "\n", _render(parser.root)).strip()


def slug(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0].split("#")[0].lower()
    return re.sub(r"[^a-z0-9-]+", "-", tail).strip("-") or "page"


def iso_date(date: str | None) -> str | None:
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", (date or "").strip())
    return f"{match.group(3)}-{match.group(2)}-{match.group(1)}" if match else None


def page_html(raw: dict) -> str:
    """One page of fiches-travail.json as a standalone HTML document."""
    title = " ".join(str(raw.get("title") or "").split())
    date = iso_date(raw.get("date"))
    head = [
        "<!DOCTYPE html>", '<html lang="fr">', "<head>", '<meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">', f"<title>{html.escape(title, quote=False)}</title>",
    ]
    if raw.get("url"):
        head.append(f'<link rel="canonical" href="{html.escape(raw["url"])}">')
    body = ["</head>", "<body>", "<article>", f"<h1>{html.escape(title, quote=False)}</h1>"]
    if date:
        body.append(f'<p>Mis à jour le <time datetime="{date}">{date}</time></p>')
    intro = clean_fragment(raw.get("intro") or "")
    if intro:
        body.append(intro)
    for section in raw.get("sections") or []:
        heading = " ".join(str(section.get("title") or "").split())
        content = clean_fragment(section.get("html") or "")
        if not content and not heading:
            continue
        body.append("<section>")
        if heading and heading != title:  # an untitled box repeats the page title: its heading would be noise
            body.append(f"<h2>{html.escape(heading, quote=False)}</h2>")
        if content:
            body.append(content)
        body.append("</section>")
    body += ["</article>", "</body>", "</html>", ""]
    return "\n".join(head + body)


def pages(raw_pages: list[dict]) -> list[Page]:
    """Pages with stable, unique file names; a page listed twice with the same content is written once."""
    out: dict[str, Page] = {}
    for raw in raw_pages:
        if not isinstance(raw, dict) or not raw.get("title"):
            raise HelpCenterError("fiches-travail.json: a page without a title: is this the right file?")
        document = page_html(raw)
        name = slug(str(raw.get("url") or raw["title"]))
        if name in out and out[name].html != document:
            name = f"{name}-{slug(str(raw.get('pubId') or len(out)))}"
        if name in out and out[name].html == document:
            continue
        out[name] = Page(f"{name}.html", raw["title"], str(raw.get("url") or ""), iso_date(raw.get("date")), document)
    return sorted(out.values(), key=lambda p: p.name)


def npm_pack(folder: Path, package: str = PACKAGE) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise HelpCenterError("npm not found: install Node.js (apt-get install npm), or download the package's .tgz "
                              "elsewhere and pass --package FILE.tgz")
    try:
        done = subprocess.run([npm, "pack", package, "--pack-destination", str(folder), "--silent"], cwd=folder, check=False,
                              capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise HelpCenterError(f"npm pack {package} took over 5 minutes: check the network or the npm registry, "
                              "or pass --package FILE.tgz") from None
    tarballs = sorted(folder.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise HelpCenterError(f"npm pack {package} failed ({detail[0]}): check the network and the npm registry "
                              "(npm config get registry), or pass --package FILE.tgz")
    return tarballs[0]


def read_package(path: Path) -> tuple[str, list[dict]]:
    """(version, pages) from the package's .tgz, or from an extracted fiches-travail.json."""
    if not path.exists():
        raise HelpCenterError(f"{path} does not exist: pass the .tgz from `npm pack {PACKAGE}` or its "
                              "data/fiches-travail.json")
    try:
        if path.suffix == ".json":
            data = path.read_text(encoding="utf-8")
            manifest = path.parent.parent / "package.json"
            version = json.loads(manifest.read_text(encoding="utf-8")).get("version", "?") if manifest.exists() else "?"
        else:
            with tarfile.open(path) as tar:
                names = tar.getnames()
                if DATA_MEMBER not in names:
                    raise HelpCenterError(f"{path} has no {DATA_MEMBER}: is it the {PACKAGE} package?")
                data = tar.extractfile(DATA_MEMBER).read().decode("utf-8")
                version = json.loads(tar.extractfile("package/package.json").read()).get("version", "?") \
                    if "package/package.json" in names else "?"
        raw_pages = json.loads(data)
    except (OSError, tarfile.TarError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HelpCenterError(f"{path} could not be read ({exc}): fetch the package again") from None
    if not isinstance(raw_pages, list) or not raw_pages:
        raise HelpCenterError(f"{path}: expected a non-empty list of pages: is it fiches-travail.json?")
    return version, raw_pages


def write(out: Path, written: list[Page]) -> tuple[int, int, int]:
    """Write the pages; returns (new or changed, unchanged, stale removed). Only files this script wrote are removed."""
    out.mkdir(parents=True, exist_ok=True)
    changed = same = removed = 0
    names = {p.name for p in written}
    for page in written:
        target = out / page.name
        if target.exists() and target.read_text(encoding="utf-8") == page.html:
            same += 1
            continue
        target.write_text(page.html, encoding="utf-8")
        changed += 1
    for old in out.glob("*.html"):
        if old.name not in names and GENERATOR in old.read_text(encoding="utf-8", errors="replace")[:600]:
            old.unlink()
            removed += 1
    return changed, same, removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/helpcenter"), help="folder for the HTML pages")
    parser.add_argument("--package", type=Path, help=f"the .tgz of {PACKAGE} or its data/fiches-travail.json "
                        "(default: fetch it with npm pack)")
    args = parser.parse_args(argv)
    try:
        if args.package:
            version, raw_pages = read_package(args.package)
        else:
            with tempfile.TemporaryDirectory(prefix="helpcenter-") as tmp:
                version, raw_pages = read_package(npm_pack(Path(tmp)))
        built = pages(raw_pages)
        changed, same, removed = write(args.out, built)
    except HelpCenterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{PACKAGE}@{version}: {len(raw_pages)} pages listed, {len(built)} files in {args.out} "
          f"({changed} written, {same} unchanged, {removed} stale removed; "
          f"{len(raw_pages) - len(built)} listed twice with the same content)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
