"""The one plain-text rule: a name that comes from a user's file (a class folder, a file, a checkpoint, a dataset)
is shown as the characters typed, whatever renders it.

Three renderers read text as markup here: Streamlit's Markdown (captions, messages, labels), Plotly's pseudo-HTML
(legends, hover labels, titles) and a spreadsheet opening a CSV (a cell starting with ``=`` is a formula). Each
gets its own escape; nothing shown to a user bypasses them.
"""

from __future__ import annotations

import html as _html
import re

MAX_CHARS = 500  # a name longer than this is cut: it is shown, never a page's worth of text

# What Markdown (GFM + Streamlit's directives) reads as markup anywhere in a line: links and images need "[", HTML
# and autolinks "<", colour directives ":red[", maths "$"; emphasis, code and tables the rest. Escaping these keeps
# ordinary text ("Live: 3 (of 10).") as it was.
_MARKUP = re.compile(r"([\\`*_\[\]<>~$|&])")
# A heading, list item or rule marker: only at a line's start, and only before a space ("#123" stays as it is)
_LINE_START = re.compile(r"^(\s*#{0,5}|\s*\d*)([#+\-=.)])(?=\s|$)")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as the start of a formula


def one_line(text: object) -> str:
    """``text`` on one line (runs of whitespace, newlines included, become one space), at most MAX_CHARS long."""
    return " ".join(str(text).split())[:MAX_CHARS]


def markdown(text: object) -> str:
    """Text for Streamlit's Markdown: one line, every markup character escaped, so a link, an image, HTML or a
    colour directive shows as the characters typed."""
    escaped = _LINE_START.sub(r"\1\\\2", _MARKUP.sub(r"\\\1", one_line(text)))
    # GFM turns bare "http://…", "www.…" and "a@b.c" into links whatever the escapes: a zero-width space stops it
    return escaped.replace("//", "/\u200b/").replace("www.", "www\u200b.").replace("@", "@\u200b")


def html(text: object) -> str:
    """Text for Plotly's pseudo-HTML (trace names, hover labels, titles) or an HTML attribute: one line, ``<>&"'``
    as entities, so ``<a href=…>`` shows as typed; ``%`` too, so a hover template never reads it as ``%{field}``.
    Quotes and ``%`` as numeric entities: Plotly decodes those and only a few named ones (not ``&quot;``)."""
    escaped = _html.escape(one_line(text), quote=False)
    return escaped.replace('"', "&#34;").replace("'", "&#39;").replace("%", "&#37;")


def csv_cell(text: object) -> str:
    """A CSV cell a spreadsheet shows as typed: a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a ``'`` before
    it (OWASP's rule against formula injection), so ``=HYPERLINK(…)`` is never run."""
    s = str(text)
    return "'" + s if s.startswith(_FORMULA) else s
