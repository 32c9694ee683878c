"""Every page opened at once right after a cold start, on a busy CPU, shows no exception (issue 24, item 1).

Each page's script runs in its own thread; one importing pandas while another built a Plotly figure handed Plotly a
half-initialised module (``partially initialized module 'pandas' has no attribute 'Series'``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from browser import READY, streamlit_server, wait_idle
from support import ROOT
from ui.shell import PAGES

# In a fresh interpreter: a thread imports pandas; once it is in sys.modules but still initialising, this thread
# builds a Plotly figure (after ui.shell.plotly_ready when GUARD) and prints what happened.
RACE = """
import sys, threading
import numpy as np
import plotly.graph_objects as go
from ui.shell import plotly_ready
importer = threading.Thread(target=lambda: __import__("pandas"))
importer.start()
while "pandas" not in sys.modules:
    pass
if not sys.modules["pandas"].__spec__._initializing:
    print("too late")
else:
    if GUARD:
        plotly_ready()
    try:
        go.Figure(go.Scatter(x=np.arange(3), y=np.arange(3))).to_dict()
        print("ok")
    except AttributeError as e:
        print(e)
importer.join()
"""


def race(guard: bool) -> str:
    """What RACE printed, tried again (up to three times) if pandas was imported before the figure was built."""
    for _ in range(3):
        code = f"GUARD = {guard}\n{RACE}"
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if out.stdout.strip() != "too late":
            return out.stdout.strip() or out.stderr
    return "too late"


def test_plotly_reads_a_module_another_thread_is_importing():
    """The bug itself, without the guard: Plotly's check for a pandas Series meets the half-initialised pandas."""
    assert race(guard=False) == (
        "partially initialized module 'pandas' has no attribute 'Series' (most likely due to a circular import)"
    )


def test_plotly_ready_waits_for_the_other_threads_import():
    assert race(guard=True) == "ok"


# In a fresh interpreter: one page's run under AppTest, noting, whenever a figure is built, which of the modules
# Plotly reads are missing or half-imported; prints [figures built, those modules]
FIGURES = """
import json, sys
sys.path.insert(0, "tests")
import plotly.basedatatypes
from support import open_page
from ui.shell import PLOTLY_READS

built, early = [], set()
init = plotly.basedatatypes.BaseFigure.__init__

def noting(self, *args, **kwargs):
    built.append(1)
    early.update(m for m in PLOTLY_READS if m not in sys.modules or sys.modules[m].__spec__._initializing)
    init(self, *args, **kwargs)

plotly.basedatatypes.BaseFigure.__init__ = noting
open_page(PAGE, **QUERY)
print(json.dumps([len(built), sorted(early)]))
"""


def figures_built(page: str, **query) -> list:
    code = f"PAGE, QUERY = {page!r}, {query!r}\n{FIGURES}"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_page_builds_a_figure_before_what_plotly_reads_is_imported():
    """The Map page's 3-D view and server path, and a page through the shell alone: every figure finds numpy,
    pandas and PIL.Image imported (the live map builds none: it imports no pandas, tests/test_imports.py)."""
    assert figures_built("map") == [0, []]
    drawn = [("map", {"map_3d": "1"}), ("map", {"map_live": "0"}), ("sliders", {"sl_live": "0"}), ("compare", {})]
    for page, query in drawn:
        built, early = figures_built(page, **query)
        assert built > 0 and early == [], (page, query, early)


COLD_STARTS = 2
TIMEOUT = 120_000  # ms: nine pages at once on a cold server and a busy 2-core machine (a minute, measured)
EXCEPTION = '[data-testid="stException"]'


def open_all(browser, base: str) -> dict[str, str]:
    """Open the first page, then every other page in its own tab without waiting: {url: what went wrong}."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT)
    try:
        first = context.new_page()
        first.goto(base)
        first.get_by_role("heading", name=PAGES[0].title).first.wait_for()  # the first page's script is running
        tabs = {PAGES[0].url: first}
        for spec in PAGES[1:]:  # all at once: their scripts run side by side on the server
            tabs[spec.url] = context.new_page()
            tabs[spec.url].goto(f"{base}/{spec.url}", wait_until="commit")
        problems = {}
        for url, tab in tabs.items():
            tab.locator(READY[url]).or_(tab.locator(EXCEPTION)).first.wait_for()
            wait_idle(tab, TIMEOUT)
            boxes = tab.locator(EXCEPTION)
            text = (boxes.first if boxes.count() else tab.locator("body")).inner_text()
            if boxes.count() or "Traceback" in text or "AttributeError" in text:
                problems[url] = text[:300]
        return problems
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_at_once_after_a_cold_start(browser, server_env):
    """Without ui.shell.plotly_ready every cold start failed (5 of 5, four or five pages each); about 80 s a start on
    a loaded 2-core machine."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # another process keeps one core busy
    try:
        for run in range(COLD_STARTS):
            with streamlit_server(env=server_env) as (base, _, _):
                problems = open_all(browser, base)
            assert not problems, f"cold start {run + 1}: {problems}"
    finally:
        hog.kill()
        hog.wait()
