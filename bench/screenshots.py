"""Re-take the README's screenshots of the four pages: `python -m bench.screenshots` (needs chromium)."""

from __future__ import annotations

import sys
import time

from tests.browser import ROOT, chromium, streamlit_server, wait_idle
from ui.shell import PAGES

OUT = ROOT / "docs"
SHOTS = {  # page url -> (query, what to wait for); the pages themselves come from ui.shell.PAGES
    "map": ("?ckpt=mnist5k-vae16&point=1234", "text=8 nearest neighbours"),
    "sliders": ("?ckpt=mnist5k-vae16-gaussian&point=1234", "text=per-pixel std"),
    "interpolation": ("?ckpt=mnist5k-vae16", "text=lerp in 10 steps"),
    "uncertainty": ("?ckpt=mnist5k-vae16", "text=least uncertain"),
}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with streamlit_server() as (base, _, _), chromium() as browser:
        for spec in PAGES:
            query, ready = SHOTS[spec.url]
            name, url = f"{spec.url}.png", f"/{'' if spec.url == PAGES[0].url else spec.url}{query}"
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(base + url)
            page.locator(ready).first.wait_for(timeout=120_000)
            wait_idle(page)
            time.sleep(1.5)  # let Plotly finish drawing
            page.screenshot(path=str(OUT / name))
            page.close()
            print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
