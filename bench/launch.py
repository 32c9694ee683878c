"""Launch figures: seconds from starting a fresh server to the default page's live map drawn (hover decodes), and
from a new tab on a warm server to the same, on a quiet machine and with another process keeping one core busy.

    .venv/bin/python -m bench.launch [--runs 5] [--load]

Each launch is split into its phases: the server healthy (Streamlit imported and listening), the page's HTML
loaded, and the map drawn. Prints medians as JSON; ``--load`` runs the same with a busy loop on one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.browser import MAP_READY, chromium, streamlit_server

VIEWPORT = {"width": 1400, "height": 1000}


@contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeping one core busy (a loaded machine), stopped on exit."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def launch_once(browser, query: str = "") -> dict:
    """One fresh server: its phases in seconds from the launch, and a new tab's seconds on the now-warm server."""
    with streamlit_server(timeout=120) as (base, healthy, t0):
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(base + "/" + query, wait_until="domcontentloaded")
        html = time.perf_counter() - t0
        page.wait_for_function(MAP_READY, timeout=120_000, polling=50)
        ready = time.perf_counter() - t0
        page.wait_for_timeout(3000)  # the warm-up thread builds the model meanwhile: a second visitor comes later
        tab = browser.new_page(viewport=VIEWPORT)
        t1 = time.perf_counter()
        tab.goto(base + "/" + query)
        tab.wait_for_function(MAP_READY, timeout=120_000, polling=50)
        new_tab = time.perf_counter() - t1
        tab.close()
        page.close()
    return {"healthy_s": healthy, "html_s": html, "map_s": ready, "new_tab_s": new_tab}


def launch_figures(runs: int, query: str = "") -> dict:
    """Medians over ``runs`` fresh servers, with every run's figures."""
    with chromium() as browser:
        launch_once(browser, query)  # untimed: the OS file cache warm, as a user's second start finds it
        got = [launch_once(browser, query) for _ in range(runs)]
    return {
        "runs": runs,
        **{f"{k}_median": round(statistics.median(r[k] for r in got), 2) for k in got[0]},
        "map_s_runs": [round(r["map_s"], 2) for r in got],
        "new_tab_s_runs": [round(r["new_tab_s"], 2) for r in got],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.launch", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--load", action="store_true", help="keep one core busy with another process meanwhile")
    p.add_argument("--query", default="", help="e.g. ?map_live=0 for the Plotly map")
    a = p.parse_args(argv)
    t = time.perf_counter()
    if a.load:
        with busy_core():
            out = launch_figures(a.runs, a.query)
    else:
        out = launch_figures(a.runs, a.query)
    print(json.dumps({"load": a.load, **out, "wall_s": round(time.perf_counter() - t, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
