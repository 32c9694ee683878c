// The Directions page's live decode (along + onnxruntime-web wasm) against Python, on a fixture that
// tests/test_live.py writes (DIRECTION_FIXTURE=<json>): apply_attribute's latents to the last float32 bit, and
// Python onnxruntime's images of them within 1e-5.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-web/wasm";
import { describe, expect, it } from "vitest";
import { Decoder } from "./decoder";
import { along } from "./grid";

interface Fixture {
  model: string;
  shape: [number, number, number];
  z: number[];
  v: number[];
  strengths: number[];
  latents: number[][]; // apply_attribute(z, v, strengths) as float32
  mean: number[][]; // Python onnxruntime's mean of each, flattened
}

const path = process.env.DIRECTION_FIXTURE;

describe.skipIf(!path)("z + s·v decoded like Python onnxruntime", () => {
  it("builds Python's latents and decodes them to Python's numbers", async () => {
    const fx: Fixture = JSON.parse(readFileSync(path!, "utf8"));
    ort.env.wasm.numThreads = 1;
    const dec = await Decoder.create(ort, new Uint8Array(readFileSync(fx.model)), fx.z.length);
    for (const [i, s] of fx.strengths.entries()) {
      const z = along(fx.z, fx.v, s);
      expect(Array.from(z)).toEqual(fx.latents[i]);
      const { mean } = await dec.decode(z); // one latent a call, as the element decodes
      expect(mean.length).toBe(fx.shape.reduce((a, b) => a * b));
      expect(Math.max(...fx.mean[i].map((v, j) => Math.abs(v - mean[j])))).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe("along", () => {
  it("is z + s·v in float32", () => {
    expect(Array.from(along([1, -2], [0.5, 0.25], 2))).toEqual([2, -1.5]);
    expect(along([0.1], [0.2], 1)[0]).toBe(Math.fround(0.1 + 0.2));
  });
});
