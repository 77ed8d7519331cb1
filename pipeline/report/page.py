"""The report as a standalone HTML page (images inline), from the markdown that build() writes."""

from __future__ import annotations

import base64
import html
import re


def to_html(markdown: str, images: dict[str, bytes]) -> str:
    """A standalone page: the report's tables and lists, images inline as data URIs."""
    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|(-+\|)+", r.replace("---", "-"))]
            cells = [[html.escape(c.strip().strip("`")) for c in r.strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{c}</th>" for c in cells[0])
            rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            text = html.escape(line[2:])
            body.append("<p class='verdict'>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text) + "</p>")
        elif match := re.fullmatch(r"!\[(.+)\]\(images/(.+)\)", line):
            data = base64.b64encode(images[match.group(2)]).decode()
            body.append(f"<img alt='{html.escape(match.group(1))}' src='data:image/png;base64,{data}'>")
        elif line and not line.startswith("<!--"):
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em}img{margin:.5em;vertical-align:top}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>LeNet-5 pipeline report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
