"""Images for the pages: tensor -> PIL (sharp upscaling), grids, heat maps, and PNG / GIF / CSV bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import streamlit as st
from PIL import Image

from core.data.images import UPLOAD_FORMATS, Prepared
from ui import state
from ui.state import Ctx

# The file names the uploaders offer: the extensions of core.data.images.UPLOAD_FORMATS (the bytes decide).
EXTENSIONS = {"PNG": ("png",), "JPEG": ("jpg", "jpeg"), "BMP": ("bmp",), "GIF": ("gif",), "WEBP": ("webp",)}
UPLOAD_TYPES = [ext for fmt in UPLOAD_FORMATS for ext in EXTENSIONS[fmt]]


GRID_PAD = 2  # image pixels between the cells of grid(), as torchvision make_grid pads


def scale_for(h: int) -> int:
    return max(1, 112 // h)  # 28 px -> 112 px, 8 px -> 112 px: tiny images shown big, pixels kept sharp


def as_array(a) -> np.ndarray:
    """A torch tensor (any device) or an array as a float32 numpy array, without importing torch."""
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float32)


def to_pil(img, scale: int | None = None) -> Image.Image:
    """An image (C, H, W) in [0, 1] (tensor or array) -> PIL, upscaled with nearest neighbour."""
    a = np.asarray(np.clip(as_array(img), 0, 1) * 255 + 0.5, dtype=np.uint8)
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    return _upscale(Image.fromarray(a), scale)


def _upscale(pil: Image.Image, scale: int | None) -> Image.Image:
    """Enlarge with nearest neighbour (``scale_for`` by default), so pixels stay sharp."""
    s = scale_for(pil.height) if scale is None else scale
    return pil.resize((pil.width * s, pil.height * s), Image.Resampling.NEAREST) if s > 1 else pil


def grid(images, nrow: int, scale: int | None = None) -> Image.Image:
    """A grid of images (B, C, H, W) as one upscaled PIL image: torchvision make_grid's layout (RGB, 2-pixel
    padding of grey 0.35, ``nrow`` per row, one image unpadded), in numpy so a page never imports torch."""
    a = as_array(images)
    if a.shape[1] == 1:
        a = np.repeat(a, 3, axis=1)
    s = scale_for(a.shape[-2]) if scale is None else scale
    if len(a) == 1:
        return to_pil(a[0], s)
    n, c, h, w = a.shape
    cols, pad = min(nrow, n), GRID_PAD
    rows = -(-n // cols)
    out = np.full((c, rows * (h + pad) + pad, cols * (w + pad) + pad), 0.35, np.float32)
    for i, img in enumerate(a):
        y, x = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        out[:, y : y + h, x : x + w] = img
    return to_pil(out, s)


GRID_LEFT, GRID_TOP = 64, 18  # labelled_grid's margins for the row and column labels (screen pixels)


def labelled_grid(
    images, nrow: int, rows: list[str], cols: list[str], marked: list[int], scale: int = 2
) -> Image.Image:
    """grid() with a label per row and per column, and cell ``marked[i]`` of row i outlined in the padding
    (the cells' own pixels stay the decoded ones)."""
    from PIL import ImageDraw, ImageFont

    g = grid(images, nrow, scale)
    h, w = (int(v) * scale for v in images.shape[-2:])
    pad, left, top = GRID_PAD * scale, GRID_LEFT, GRID_TOP
    out = Image.new("RGB", (g.width + left, g.height + top), "white")
    out.paste(g, (left, top))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=11)
    for j, text in enumerate(cols):
        draw.text((left + pad + j * (w + pad) + w / 2, top / 2), text, fill="#555", font=font, anchor="mm")
    for i, text in enumerate(rows):
        y0 = top + pad + i * (h + pad)
        draw.text((left - 4, y0 + h / 2), text, fill="#555", font=font, anchor="rm")
        x0 = left + pad + marked[i] * (w + pad)
        draw.rectangle([x0 - scale, y0 - scale, x0 + w + scale - 1, y0 + h + scale - 1], outline="#4c6a8a", width=scale)
    return out


@lru_cache(maxsize=1)
def _viridis() -> np.ndarray:
    from plotly.colors import sample_colorscale

    rgb = sample_colorscale("Viridis", list(np.linspace(0, 1, 256)))
    return np.array([[int(float(c)) for c in s[4:-1].split(",")] for s in rgb], dtype=np.uint8)


STD_MAX = 0.5  # the largest std a pixel in [0, 1] can have: the fixed top of the std colour scale


def heat(a, scale: int | None = None, vmax: float | None = None) -> Image.Image:
    """A (H, W) non-negative map (e.g. per-pixel std) as a Viridis heatmap: 0 dark, ``vmax`` (default: max) yellow."""
    a = as_array(a)
    top = float(a.max()) if vmax is None else vmax
    idx = np.clip(a / max(top, 1e-8) * 255, 0, 255).astype(np.uint8)
    return _upscale(Image.fromarray(_viridis()[idx]), scale)


def png_bytes(pil: Image.Image) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration: int = 150) -> bytes:
    """An animated GIF that plays the frames forward then back (ping-pong), looping forever."""
    seq = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], loop=0, duration=duration)
    return buf.getvalue()


MAX_FIXED_WIDTH = 800  # px: a fixed width past the page's column (eight 64x64 faces at 2x) overflows it; stretch


def image(picture, caption: str, width: int | str = "content", where=st) -> None:
    """One image (PNG, so small ones stay sharp) with its caption shown as typed (state.plain) and as its alt text;
    a fixed width too wide for the page's column fills the column instead."""
    if isinstance(width, int) and width > MAX_FIXED_WIDTH:
        width = "stretch"
    where.image(picture, caption=state.plain(caption), alt=caption, width=width, output_format="PNG")


def show_images(images: list, captions: list[str], cols: int | None = None) -> None:
    """Images side by side, each with its caption."""
    columns = st.columns(cols or len(images))
    for i, (img, cap) in enumerate(zip(images, captions, strict=True)):
        pil = img if isinstance(img, Image.Image) else to_pil(img)
        # natural size and PNG: no blur, no stretch, no JPEG artefacts on tiny images
        image(pil, cap, pil.width, columns[i % len(columns)])


def csv_download(ctx: Ctx) -> None:
    """The download button every page ends with: the latents and map coordinates as CSV (built on click)."""
    st.download_button(
        "CSV of latents and map coordinates",
        latents_csv(ctx),
        f"latents-{ctx.ckpt.name}-{ctx.ds.name.split('/')[-1].replace(':', '-')}.csv",
        "text/csv",
        key="csv",
        on_click="ignore",
        help="index, label, class, split, x, y (the 2-D map), the per-image scores, z0..zD-1 (latent means)",
    )


def latents_csv(ctx: Ctx) -> Callable[[], bytes]:
    """A deferred CSV of every sample (core.models.inference.samples_csv): built only when the download is clicked."""
    from core.models.inference import samples_csv

    return lambda: samples_csv(ctx.enc, ctx.md.xy, ctx.class_name)


def upload_image(label: str, key: str, image_shape: tuple[int, int, int], where=st) -> Prepared | None:
    """An uploader for one image, prepared to ``image_shape`` (core.data.images); None until a file comes, and
    None with one line of error for a file that is not a readable image."""
    from core.data.images import prepare_image
    from core.errors import LatentExplorerError

    up = where.file_uploader(state.plain(label), type=UPLOAD_TYPES, key=key)
    if up is None:
        return None
    try:
        return prepare_image(io.BytesIO(up.getvalue()), image_shape)
    except LatentExplorerError as e:
        where.error(state.plain(e))
        return None


def prepared_caption(p: Prepared, where=st) -> None:
    """What was done to an upload to make it the model's input (resized, made grey, ...), when anything was."""
    if p.notes:
        where.caption(state.plain("Prepared: " + "; ".join(p.notes) + "."))


def strip_downloads(picture: Image.Image, steps, stem: str, key: str, what: str = "Strip", cols=None) -> None:
    """A strip of decoded steps as a PNG and as an animated ping-pong GIF of its frames (two buttons)."""
    where = cols or (st, st)
    png, gif = f"{what} as PNG", "Animated GIF (ping-pong)" if what == "Strip" else f"{what} as GIF"
    where[0].download_button(state.plain(png), png_bytes(picture), f"{stem}.png", "image/png", key=f"{key}_png")
    frames = [to_pil(img) for img in steps]
    where[1].download_button(state.plain(gif), gif_bytes(frames), f"{stem}.gif", "image/gif", key=f"{key}_gif")
