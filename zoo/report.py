"""``report.md`` -> ``report.html``: one self-contained page, rendered by the Markdown
library (tables included) with the PNGs it links inlined as data URIs, so the page can
be mailed or attached without its folder."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import markdown as md

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def _inline_images(body: str, folder: Path) -> str:
    """``<img src="x.png">`` -> a data URI of ``folder/x.png``; an image whose file is
    missing is dropped rather than left as a broken link."""

    def replace(match: re.Match) -> str:
        tag, src = match.group(0), match.group(1)
        path = folder / src
        if "://" in src or src.startswith("data:"):
            return tag
        if not path.is_file():
            return ""
        data = base64.b64encode(path.read_bytes()).decode()
        return tag.replace(f'src="{src}"', f'src="data:image/png;base64,{data}"')

    return re.sub(r'<img[^>]*\bsrc="([^"]+\.png)"[^>]*>', replace, body)


def markdown_to_html(markdown: str, folder: str | Path, title: str) -> str:
    """The report's Markdown as one self-contained HTML page: headings, lists, tables,
    code, links, and the PNGs beside it (in ``folder``) inlined."""
    body = md.markdown(markdown, extensions=["tables", "sane_lists"], output_format="html")
    body = _inline_images(body, Path(folder))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
