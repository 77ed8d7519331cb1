"""The report as a standalone HTML page: the comment's markdown rendered by markdown-it (tables
on, raw HTML off), then the plots inline as data URIs."""

from __future__ import annotations

import html

from pipeline.pages.html import data_uri
from pipeline.pages.html import markdown as render_markdown

STYLE = (
    "body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em}"
    "img{margin:.5em;vertical-align:top}"
)


def to_html(markdown: str, images: dict[str, bytes]) -> str:
    text = "\n".join(line for line in markdown.splitlines() if not line.startswith("<!--"))
    body = render_markdown(text)
    if images:
        body += "<h3>Plots</h3>" + "".join(
            f"<img alt='{html.escape(name)}' src='{data_uri(data)}'>"
            for name, data in images.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>LeNet-5 pipeline report</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
