/** Decoder outputs (C, H, W) floats in [0, 1] -> RGBA bytes for a canvas, rounded as the Python app does. */

import { VIRIDIS, viridisIndex } from "./viridis";

export type Shape = [number, number, number]; // C, H, W

/** One value in [0, 1] as a byte: clamp, x * 255 + 0.5, truncate (ui.images.to_pil). */
export function toByte(v: number): number {
  const c = v < 0 ? 0 : v > 1 ? 1 : v;
  return Math.floor(Math.fround(Math.fround(c * 255) + 0.5));
}

/** An image (C, H, W) in [0, 1] (C = 1 grey or 3 RGB) as RGBA bytes (H * W * 4). */
export function toRGBA(img: ArrayLike<number>, [c, h, w]: Shape, offset = 0): Uint8ClampedArray<ArrayBuffer> {
  const n = h * w;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) out[i * 4 + k] = toByte(img[offset + (c === 1 ? 0 : k) * n + i]);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A per-pixel std (C, H, W), averaged over channels, as a Viridis heat map: 0 dark, vmax
 * yellow (ui.images.heat's colours). */
export function heatRGBA(std: ArrayLike<number>, [c, h, w]: Shape, vmax: number, offset = 0): Uint8ClampedArray<ArrayBuffer> {
  const n = h * w;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += std[offset + k * n + i];
    const j = viridisIndex(s / c, vmax) * 3;
    for (let k = 0; k < 3; k++) out[i * 4 + k] = VIRIDIS[j + k];
    out[i * 4 + 3] = 255;
  }
  return out;
}
