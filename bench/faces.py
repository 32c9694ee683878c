"""Figures of the colour faces (measured, never asserted): the face set drawn, and in headless Chromium the live
Sliders while dragging (one 64×64 RGB image, and the traversal grid) and hovering the 20,000-face live Map.

    .venv/bin/python -m bench.faces [--checkpoint checkpoints/faces-vae16] [--no-128]

A 128×128 VAE of the same layout with untrained weights (decode time does not depend on the weights) is timed too,
on the 2,000 photos128 crops (encoded once into test-artifacts/faces-bench). Writes bench/faces.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.browser import LIVE_READY, drag_frames
from bench.map_live import hover_lags_ms, open_live_map, summary
from tests.browser import ROOT, chromium, streamlit_server, wait_idle

RESULTS = ROOT / "bench" / "faces.json"
WORK = ROOT / "test-artifacts" / "faces-bench"


def generation_seconds(n: int = 20_000, size: int = 64) -> float:
    """Seconds to draw ``n`` faces of ``size`` pixels into an empty data root (every core, as the app does)."""
    from core.data.faces import load_faces

    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        load_faces(root, size, n)
        return time.perf_counter() - t0


def random_128(root: Path) -> str:
    """A 128×128 RGB VAE with untrained weights under ``root`` (its name), for timing the 128×128 decoder only."""
    import torch

    from core.models.autoencoders import build_model
    from core.models.checkpoints import save_checkpoint
    from core.models.config import ModelConfig

    name = "faces128-vae16-untrained"
    if not (root / name / "model.safetensors").is_file():
        torch.manual_seed(0)
        model = build_model(ModelConfig(kind="vae", image_shape=(3, 128, 128), latent_dim=16))
        save_checkpoint(root / name, model, {"dataset": "photos128", "split_seed": 0})
    return name


def sliders_drag(page, base: str, ckpt: str) -> dict:
    page.goto(f"{base}/sliders?ckpt={ckpt}")
    page.wait_for_function(LIVE_READY, polling=100, timeout=900_000)
    wait_idle(page, 900_000)
    time.sleep(1.0)
    return drag_frames(page)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faces", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="checkpoints/faces-vae16")
    p.add_argument("--no-128", action="store_true", help="skip the 128×128 decoder")
    a = p.parse_args(argv)
    ck = Path(a.checkpoint).resolve()
    root = WORK / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    link = root / ck.name
    if not link.exists():
        link.symlink_to(ck)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "generate_20k_64_s": generation_seconds()}
    names = [ck.name] + ([] if a.no_128 else [random_128(root)])
    env = {"LATENT_EXPLORER_CHECKPOINTS": str(root), "LATENT_EXPLORER_CACHE": str(WORK / "cache")}
    with streamlit_server(env=env, timeout=120) as (base, _, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(900_000)
        for name in names:
            out[f"sliders_{name}"] = sliders_drag(page, base, name)
        open_live_map(page, base, f"?ckpt={ck.name}", timeout=900_000)
        out["hover_ms_faces"] = summary(*hover_lags_ms(page))
        out["map_points"] = page.evaluate("() => window.__latentMap.n ?? null")
        page.screenshot(path=str(WORK / "faces-map.png"))
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
