"""The one plain-text rule (core/text.py): a class, file, checkpoint or dataset name from a user's file shows as the
characters typed in Markdown, in Plotly and in a CSV; and no page or ui module hands Streamlit's Markdown a text
built from anything but our own words, numbers and names passed through the rule (read from the source)."""

from __future__ import annotations

import ast
import io
import re

import numpy as np
import pandas as pd
import pytest

from core import text
from support import ROOT

LINK = "[Session expired, sign in again](https:evil.example)"
IMAGE = "![p](https:evil.example)"
TAG = '<a href="https:evil.example">x</a>'


def test_markdown_escapes_every_markup_character():
    assert text.markdown(LINK) == r"\[Session expired, sign in again\](https:evil.example)"
    assert text.markdown(IMAGE) == r"!\[p\](https:evil.example)"
    assert text.markdown('<img src="x">') == r'\<img src="x"\>'
    assert text.markdown(":red[alarm] $x$") == r":red\[alarm\] \$x\$"
    assert text.markdown("see http://evil.example") == "see http:/\u200b/evil.example"  # no bare-URL link
    assert text.markdown("www.evil.example") == "www\u200b.evil.example"
    assert [text.markdown(s) for s in ("# h", "- l", "12. n", "> q")] == [r"\# h", r"\- l", r"12\. n", r"\> q"]
    assert text.markdown("Live: this browser decodes (1.5 ms).") == "Live: this browser decodes (1.5 ms)."
    assert text.markdown("a\nb\t c") == "a b c"  # one line
    assert len(text.markdown("x" * 10_000)) == text.MAX_CHARS


def test_html_escapes_tags_and_hover_fields():
    assert text.html(TAG) == "&lt;a href=&#34;https:evil.example&#34;&gt;x&lt;/a&gt;"
    assert text.html("%{customdata}") == "&#37;{customdata}"
    assert text.html("T-shirt/top") == "T-shirt/top"  # a plain name is unchanged


@pytest.mark.parametrize("cell", ['=HYPERLINK("https://evil.example","x")', "+1", "-1", "@SUM(A1)", "\t=1"])
def test_csv_cell_defuses_formulas(cell):
    assert text.csv_cell(cell) == "'" + cell
    assert text.csv_cell("class0") == "class0"


def test_the_samples_csv_writes_a_formula_class_name_as_text():
    from core.models.inference import EncodedSet, samples_csv

    n, zeros = 4, np.zeros(4, np.float32)
    labels, is_test = np.array([0, 1, 0, 1]), np.array([False, True, False, True])
    enc = EncodedSet(np.zeros((n, 2), np.float32), None, labels, is_test, zeros, zeros, None, None)
    names = ['=HYPERLINK("https://evil.example","x")', "plain"]
    frame = pd.read_csv(io.BytesIO(samples_csv(enc, np.zeros((n, 2)), lambda c: names[c])))
    assert frame["class"].tolist() == ["'" + names[0], "plain", "'" + names[0], "plain"]


# ---------------------------------------------------------------------------------------------- the source rule

# Streamlit calls whose first argument, or keyword argument below, is rendered as Markdown (labels and help too)
SINKS = {
    "markdown", "caption", "info", "warning", "error", "success", "subheader", "header", "title", "write", "toast",
    "spinner", "status", "expander", "button", "download_button", "selectbox", "radio", "checkbox", "toggle",
    "slider", "select_slider", "number_input", "text_input", "text_area", "multiselect", "popover", "link_button",
    "file_uploader", "metric", "tabs",
}  # fmt: skip
TEXT_KEYWORDS = {"caption", "text", "label", "help", "body"}
KEYWORD_ONLY = {"image", "progress", "update"}  # their first argument is an image or a number
# Calls whose result is our own words and numbers: the rule itself, numbers, and core's sentences built from numbers
# and our labels (never from a name)
OWN_TEXT = {
    "plain", "markdown", "len", "int", "float", "round", "describe", "ranking", "describe_correlation",
    "holes_verdict", "clustering_verdict", "page_message", "status_line", "device_line",
}  # fmt: skip


NUMBER_SPEC = re.compile(r"[dfgeE%,]'?\)?$")  # a format spec that only a number accepts


def _own(node: ast.AST) -> bool:
    """Whether ``node`` can only hold our own words: a literal, a CONSTANT, the rule's output (a call of it, or a
    variable named ``*_md``), a number formatted as one, or text built of these."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name | ast.Attribute):  # a CONSTANT of ours, or a name_md already through the rule
        name = node.id if isinstance(node, ast.Name) else node.attr
        return name.isupper() or name.endswith("_md")
    if isinstance(node, ast.Subscript):  # LABELS[key]
        return _own(node.value)
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "join" and isinstance(f.value, ast.Constant):
            arg = node.args[0] if node.args else None
            return _own(arg.elt) if isinstance(arg, ast.GeneratorExp | ast.ListComp) else _own(arg)
        if isinstance(f, ast.Attribute) and f.attr in ("capitalize", "upper", "lower"):
            return _own(f.value)
        return (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")) in OWN_TEXT
    if isinstance(node, ast.JoinedStr):
        return all(_own(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):  # a number formatted as one ({i:d}, {x:.3g}, {n:,}) or our own text
        spec = ast.unparse(node.format_spec) if node.format_spec else ""
        return bool(NUMBER_SPEC.search(spec)) or _own(node.value)
    if isinstance(node, ast.BinOp):
        return _own(node.left) and _own(node.right)
    if isinstance(node, ast.IfExp | ast.BoolOp):
        parts = [node.body, node.orelse] if isinstance(node, ast.IfExp) else node.values
        return all(_own(p) for p in parts)
    return False


def markdown_texts(tree: ast.AST):
    """(line, call name, text node) of every text a Streamlit call renders as Markdown."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in SINKS and node.args:
                yield node.lineno, name, node.args[0]
            if name in SINKS | KEYWORD_ONLY:
                yield from ((node.lineno, name, k.value) for k in node.keywords if k.arg in TEXT_KEYWORDS)


def test_markdown_sinks_get_only_our_own_words_or_escaped_names():
    bad = []
    for path in sorted([ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]):
        for line, name, node in markdown_texts(ast.parse(path.read_text())):
            if not _own(node):
                bad.append(f"{path.relative_to(ROOT)}:{line} {name}({ast.unparse(node)[:70]})")
    assert not bad, "text that may hold a name reaches Markdown without state.plain:\n" + "\n".join(bad)


def test_the_source_rule_catches_a_name():
    tree = ast.parse('st.caption(f"class {ctx.class_name(1)}")\nst.image(x, caption=cap)\nst.info(plain(name))')
    assert [_own(node) for _, _, node in markdown_texts(tree)] == [False, False, True]
