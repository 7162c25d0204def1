"""The report as one self-contained HTML page: CSS inline, images as PNG data URIs, no script, no link out.

Every text that reaches the page (names of arrays, models, facies, paths, messages) goes through
:func:`html.escape`. A Content-Security-Policy meta tag forbids the browser any fetch but ``data:`` images, so a
reference that slipped in would fail visibly rather than reach a network or a file.
"""

from __future__ import annotations

import base64
from html import escape

from facies.engine.report.document import Figure, Heading, Part, Section, Table, Text
from facies.engine.report.target import MARK_TAG

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1250px; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #3a6ea5; padding-bottom: 0.2em; margin-top: 1.6em; color: #1d3f66; }
h3 { margin-bottom: 0.3em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
nav a { color: #3a6ea5; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; }
caption { text-align: left; font-style: italic; padding-bottom: 0.2em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #eef3f8; }
figure { margin: 0.8em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
p.absent { color: #8a5a00; background: #fff6e0; padding: 0.5em 0.8em; border-left: 4px solid #e0a000; }
footer { margin-top: 2em; font-size: 0.8em; color: #777; }
"""
#: Nothing may be fetched but data: images and the inline style.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_page(title: str, subtitle: str, sections: list[Section], footer: str) -> str:
    """The whole page: a title, a table of contents, then every section (or why it is absent)."""
    lines = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', MARK_TAG,
             f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
             f"<title>{escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>", "<nav><ul>"]
    lines += [f'<li><a href="#{escape(s.key)}">{escape(s.title)}</a></li>' for s in sections]
    lines.append("</ul></nav>")
    for section in sections:
        lines.append(f'<section id="{escape(section.key)}">')
        lines.append(f"<h2>{escape(section.title)}</h2>")
        if section.absent is not None:
            lines.append(f'<p class="absent">{escape(section.absent)}</p>')
        lines += [_part(part) for part in section.parts]
        lines.append("</section>")
    lines += [f"<footer><p>{escape(footer)}</p></footer>", "</body>", "</html>", ""]
    return "\n".join(lines)


def _part(part: Part) -> str:
    if isinstance(part, Heading):
        return f"<h3>{escape(part.text)}</h3>"
    if isinstance(part, Text):
        return f"<p>{escape(part.text)}</p>"
    if isinstance(part, Figure):
        return (f'<figure><img src="{data_uri(part.png)}" alt="{escape(part.caption)}">'
                f"<figcaption>{escape(part.caption)}</figcaption></figure>")
    return _table(part)


def _table(table: Table) -> str:
    out = ["<table>"]
    if table.caption:
        out.append(f"<caption>{escape(table.caption)}</caption>")
    if any(table.header):
        out.append("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
    out.append("</tbody></table>")
    return "\n".join(out)
