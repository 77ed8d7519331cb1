"""Markdown to HTML for the pages (commonmark with tables, raw HTML off: the model card and the
report's markdown come from files a pull request can change), and images inlined as data URIs."""

from __future__ import annotations

import base64

from markdown_it import MarkdownIt


def markdown(text: str) -> str:
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def data_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"
