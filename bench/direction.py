"""Figures of the Directions page's live strength (measured, never asserted): while the strength is dragged in
headless Chromium, the ms to decode z + s·v and draw it per frame, and from each frame's first input to its image.

    .venv/bin/python -m bench.direction                                   # the digits checkpoint
    .venv/bin/python -m bench.direction --checkpoint checkpoints/NAME     # any checkpoint folder (e.g. 64×64 faces)

Prints the medians as JSON. The checkpoint's folder becomes the server's checkpoint root, so any folder works.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from tests.browser import ROOT, chromium, fresh_page, streamlit_server, wait_idle

READY = "() => window.__latentDirection && window.__latentDirection.readyMs !== null"
RANGE = '[data-testid="le-direction"] input[type=range]'
IMAGE = '[data-testid="le-direction-image"]'


def drag_figures(page, drags: int, moves: int) -> dict:
    """Drag the strength from end to end ``drags`` times (``moves`` pointer moves each, one per animation frame,
    as a hand would); the element's own timings of the frames drawn meanwhile."""
    before = page.evaluate("() => window.__latentDirection.decode.length")
    box = page.locator(RANGE).bounding_box()
    y = box["y"] + box["height"] / 2
    for k in range(drags):
        a, b = (0.02, 0.98) if k % 2 == 0 else (0.98, 0.02)
        page.mouse.move(box["x"] + box["width"] * a, y)
        page.mouse.down()
        for i in range(1, moves + 1):
            page.mouse.move(box["x"] + box["width"] * (a + (b - a) * i / moves), y)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        page.mouse.up()
        wait_idle(page)
    stats = page.evaluate("() => window.__latentDirection")
    decode, lags = stats["decode"][before:], stats["lags"][before:]
    return {
        "frames": len(decode),
        "moves": drags * moves,
        "decode_draw_ms_median": round(statistics.median(decode), 2),
        "decode_draw_ms_p90": round(statistics.quantiles(decode, n=10)[-1], 2),
        "input_to_image_ms_median": round(statistics.median(lags), 2),
        "input_to_image_ms_p90": round(statistics.quantiles(lags, n=10)[-1], 2),
    }


def direction_figures(checkpoint: Path, drags: int = 4, moves: int = 60) -> dict:
    """Open the Directions page on ``checkpoint`` (live), wait for its first image, and measure ``drags`` drags."""
    checkpoint = (ROOT / checkpoint).resolve() if not checkpoint.is_absolute() else checkpoint
    env = {"LATENT_EXPLORER_CHECKPOINTS": str(checkpoint.parent)}
    with streamlit_server(timeout=120, env=env) as (base, _, _), chromium() as browser:
        page = fresh_page(browser, timeout=600_000)  # a first visit may encode the data and fit a reader
        page.goto(f"{base}/directions?ckpt={checkpoint.name}&dr_start=sample&dr_index=0")
        page.wait_for_function(READY, polling=100)
        wait_idle(page)
        w, h, css = page.locator(IMAGE).evaluate("c => [c.width, c.height, c.style.width]")
        figures = {"checkpoint": checkpoint.name, "image": f"{w}x{h} drawn {css} wide"}
        figures |= drag_figures(page, drags, moves)
        page.context.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.direction", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, default=Path("checkpoints/mnist5k-vae16"))
    p.add_argument("--drags", type=int, default=4, help="end-to-end drags of the strength")
    p.add_argument("--moves", type=int, default=60, help="pointer moves per drag, one per animation frame")
    args = p.parse_args(argv)
    print(json.dumps(direction_figures(args.checkpoint, args.drags, args.moves), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
