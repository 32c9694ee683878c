"""Re-take the README's screenshots of the four pages: `python -m bench.screenshots` (needs chromium)."""

from __future__ import annotations

import sys
import time

from tests.browser import ROOT, chromium, streamlit_server, wait_idle

OUT = ROOT / "docs"
SHOTS = [  # (file, path and query, what to wait for)
    ("map.png", "/?ckpt=mnist5k-vae16&point=1234", "text=8 nearest neighbours"),
    ("sliders.png", "/sliders?ckpt=mnist5k-vae16-gaussian&point=1234", "text=per-pixel std"),
    ("interpolation.png", "/interpolation?ckpt=mnist5k-vae16", "text=lerp in 10 steps"),
    ("uncertainty.png", "/uncertainty?ckpt=mnist5k-vae16", "text=most typical"),
]


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with streamlit_server() as (base, _, _), chromium() as browser:
        for name, url, ready in SHOTS:
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
