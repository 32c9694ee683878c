// The browser inverse against Python's KernelInverse.transform, on a fixture tests/test_map_live.py writes
// (INVERSE_FIXTURE=<json>): the .bin the app serves, query positions and Python's latents there.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KernelInverse, type InverseShape } from "./inverse";
import { PointGrid } from "./scatter-index";

interface Fixture {
  bin: string;
  shape: InverseShape;
  queries: number[][];
  latents: number[][]; // Python's transform(queries)
}

const path = process.env.INVERSE_FIXTURE;

describe.skipIf(!path)("inverse parity with Python", () => {
  it("gives Python's latents to 1e-5 at every query", () => {
    const fx: Fixture = JSON.parse(readFileSync(path!, "utf8"));
    const bytes = readFileSync(fx.bin);
    const inv = KernelInverse.fromBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), fx.shape);
    const z = inv.transform(fx.queries.flat());
    fx.latents.forEach((want, q) => {
      const worst = Math.max(...want.map((v, k) => Math.abs(v - z[q * fx.shape.d + k])));
      expect(worst).toBeLessThanOrEqual(1e-5);
    });
  });
});

describe("inverse", () => {
  it("is the kernel-weighted mean: constant latents stay constant, the midpoint of two equal kernels averages", () => {
    // two points at x = 0 and x = 2, bandwidth 1, latents [0] and [1]: centers | latents | bandwidths
    const buf = Float32Array.from([0, 0, 2, 0, 0, 1, 1, 1]).buffer;
    const inv = KernelInverse.fromBuffer(buf, { n: 2, p: 2, d: 1 });
    expect(inv.transform([1, 0])[0]).toBeCloseTo(0.5, 7);
    // at x = 0: w0 = 1 / 1^2, w1 = 1 / (1 + 4)^2 -> z = (1/25) / (1 + 1/25)
    expect(inv.transform([0, 0])[0]).toBeCloseTo(1 / 26, 6);
    expect(() => KernelInverse.fromBuffer(buf, { n: 3, p: 2, d: 1 })).toThrow();
  });
});

describe("point grid", () => {
  it("finds the nearest point within the radius, or none", () => {
    const xy = [0, 0, 1, 0, 1, 1, 5, 5, 5.2, 5];
    const g = new PointGrid(xy);
    expect(g.nearest(0.1, 0.1, 0.5)).toBe(0);
    expect(g.nearest(0.9, 0.6, 0.5)).toBe(2);
    expect(g.nearest(5.15, 5, 0.5)).toBe(4);
    expect(g.nearest(3, 3, 0.5)).toBe(-1);
    expect(g.nearest(-10, -10, 0.5)).toBe(-1); // outside the grid: clamped cells, still no false hit
  });

  it("agrees with a brute-force search on random points", () => {
    let s = 1;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    const xy = Array.from({ length: 4000 }, () => rand() * 10);
    const g = new PointGrid(xy);
    for (let q = 0; q < 200; q++) {
      const x = rand() * 12 - 1, y = rand() * 12 - 1, r = 0.3;
      let best = -1, bd = r * r;
      for (let i = 0; i < 2000; i++) {
        const d = (xy[2 * i] - x) ** 2 + (xy[2 * i + 1] - y) ** 2;
        if (d <= bd) [best, bd] = [i, d];
      }
      expect(g.nearest(x, y, r)).toBe(best);
    }
  });
});
