// The heat map's colours (viridis.ts, pixels.ts heatRGBA) against ui.images' on a fixture that tests/test_live.py
// writes (HEAT_FIXTURE=<json>): the Viridis table byte for byte, and Python's heat-map pixels of per-pixel stds.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { heatRGBA, type Shape } from "./pixels";
import { VIRIDIS, viridisHex } from "./viridis";

interface Case {
  std: number[]; // (C, H, W) float32 values, flattened
  shape: Shape;
  vmax: number;
  pixels: number[]; // ui.images.heat's RGB bytes of their channel mean (H * W * 3)
}

interface Fixture {
  table: number[]; // ui.images._viridis(), flattened (256 * 3)
  cases: Case[];
}

const path = process.env.HEAT_FIXTURE;

describe.skipIf(!path)("heat-map colours equal Python's", () => {
  it("has ui.images' Viridis table and draws its heat maps", () => {
    const fx: Fixture = JSON.parse(readFileSync(path!, "utf8"));
    expect(Array.from(VIRIDIS)).toEqual(fx.table);
    expect(fx.cases.length).toBeGreaterThan(0);
    for (const c of fx.cases) {
      const [ch, h, w] = c.shape;
      const rgba = heatRGBA(Float32Array.from(c.std), c.shape, c.vmax);
      let compared = 0;
      for (let i = 0; i < h * w; i++) {
        let s = 0;
        for (let k = 0; k < ch; k++) s += c.std[k * h * w + i];
        const t = (s / ch / c.vmax) * 255;
        if (Math.abs(t - Math.round(t)) < 1e-3) continue; // on a byte's edge float32 and float64 may differ
        compared++;
        expect([rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2], rgba[i * 4 + 3]]).toEqual([...c.pixels.slice(i * 3, i * 3 + 3), 255]);
      }
      expect(compared).toBeGreaterThan((h * w) / 2);
    }
  });
});

describe("viridisHex", () => {
  it("runs from the table's first colour to its last", () => {
    expect(viridisHex(3)).toEqual(["#440154", "#22908b", "#fde725"]);
  });
});
