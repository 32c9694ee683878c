// The browser's decode path (onnxruntime-web wasm + toRGBA) against Python onnxruntime, on a fixture that
// tests/test_live.py writes (LIVE_FIXTURE=<json>): latents, the ONNX file, and Python's outputs and pixels.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-web/wasm";
import { describe, expect, it } from "vitest";
import { Decoder } from "./decoder";
import { toByte, toRGBA, type Shape } from "./pixels";

interface Fixture {
  model: string;
  shape: Shape;
  latents: number[][];
  mean: number[][]; // Python onnxruntime's mean, flattened per latent
  std: number[][] | null;
  pixels: number[][]; // ui.images.to_pil's bytes of that mean ((H, W) grey, (H, W, 3) colour)
}

const path = process.env.LIVE_FIXTURE;

describe.skipIf(!path)("decoder parity with Python onnxruntime", () => {
  it("decodes every fixture latent to Python's numbers and pixels", async () => {
    const fx: Fixture = JSON.parse(readFileSync(path!, "utf8"));
    ort.env.wasm.numThreads = 1;
    const dec = await Decoder.create(ort, new Uint8Array(readFileSync(fx.model)), fx.latents[0].length);
    const out = await dec.decode(Float32Array.from(fx.latents.flat()));
    const n = fx.shape.reduce((a, b) => a * b);
    fx.latents.forEach((_, i) => {
      const mean = out.mean.subarray(i * n, (i + 1) * n);
      const worst = Math.max(...fx.mean[i].map((v, j) => Math.abs(v - mean[j])));
      expect(worst).toBeLessThanOrEqual(1e-5);
      if (fx.std) expect(Math.max(...fx.std[i].map((v, j) => Math.abs(v - out.std![i * n + j])))).toBeLessThanOrEqual(1e-5);
      const rgba = toRGBA(out.mean, fx.shape, i * n);
      const [c, h, w] = fx.shape;
      fx.pixels[i].forEach((p, j) => {
        // to_pil's bytes are (H, W) for grey, (H, W, 3) for colour; the mean is (C, H, W)
        const [pixel, ch] = [Math.floor(j / c), j % c];
        const v = fx.mean[i][ch * h * w + pixel];
        const frac = (v * 255 + 0.5) % 1;
        const near = frac < 1e-5 * 255 || frac > 1 - 1e-5 * 255; // on a rounding edge: either byte is right
        if (!near) expect(rgba[pixel * 4 + ch]).toBe(p);
      });
      expect(fx.pixels[i].length).toBe(n); // every channel of every pixel compared
    });
  });
});

describe("pixels", () => {
  it("rounds like ui.images.to_pil and clamps", () => {
    expect([toByte(-0.2), toByte(0), toByte(0.5), toByte(1), toByte(1.7)]).toEqual([0, 0, 128, 255, 255]);
    const rgba = toRGBA([0, 1, 0.5, 0.25], [1, 2, 2]);
    expect(Array.from(rgba)).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255, 64, 64, 64, 255]);
  });
});
