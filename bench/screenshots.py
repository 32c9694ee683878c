"""Re-take the README's screenshots, one per page of ui.shell.PAGES: `python -m bench.screenshots` (needs chromium).

    python -m bench.screenshots [--out docs] [--pages map,train] [--width 1400] [--height 1500] [--base URL]

Without ``--base`` a server is started for the run; with it, the pages are shot on that running server.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from tests.browser import READY, ROOT, chromium, streamlit_server, wait_idle
from ui.shell import PAGES

OUT = ROOT / "docs"
# page url -> (query, what to wait for) where the picture wanted is more than the page's first view (READY)
SHOTS = {
    "map": ("?ckpt=mnist5k-vae16&point=1234", "text=8 nearest neighbours"),
    "sliders": ("?ckpt=mnist5k-vae16-gaussian&point=1234", "text=per-pixel std"),
    "interpolation": ("?ckpt=mnist5k-vae16", "text=lerp in 10 steps"),
    "uncertainty": ("?ckpt=mnist5k-vae16", "text=least uncertain"),
}


def shoot(
    browser, base: str, out: Path, urls: list[str], width: int = 1400, height: int = 1500, settle: float = 1.5
) -> list[Path]:
    """One PNG per page url (``out/<url>.png``), each page opened in its own tab once it has run to the end."""
    written = []
    for url in urls:
        query, ready = SHOTS.get(url, ("", READY[url]))
        path = f"/{'' if url == PAGES[0].url else url}{query}"  # the first page is served at /
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(base + path)
        page.locator(ready).first.wait_for(timeout=180_000)
        wait_idle(page, 180_000)
        time.sleep(settle)  # let Plotly finish drawing
        page.screenshot(path=str(out / f"{url}.png"))
        page.close()
        written.append(out / f"{url}.png")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.screenshots", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--pages", default=",".join(s.url for s in PAGES), help="comma-separated page urls (default: all)")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=1500)
    p.add_argument("--settle", type=float, default=1.5, help="seconds to wait after the page is idle")
    p.add_argument("--base", help="a running server's URL (default: start one)")
    a = p.parse_args(argv)
    urls = a.pages.split(",")
    if unknown := set(urls) - {s.url for s in PAGES}:
        p.error(f"no such page: {', '.join(sorted(unknown))}")
    a.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        base = a.base or stack.enter_context(streamlit_server())[0]
        browser = stack.enter_context(chromium())
        for path in shoot(browser, base, a.out, urls, a.width, a.height, a.settle):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
