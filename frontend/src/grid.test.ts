// The traversal grid's latents (grid.ts) against core.analysis.walks.slider_grid, on a fixture that
// tests/test_live.py writes (GRID_FIXTURE=<json>): the same latents to the last float32 bit.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gridLatents, gridRowsFor } from "./grid";

interface Case {
  z: number[];
  dims: number[];
  lo: number;
  hi: number;
  steps: number;
  columns: number[];
  latents: number[]; // float32 values, flattened (rows, steps, D)
  values: number[];
  current: number[];
}

const path = process.env.GRID_FIXTURE;

describe.skipIf(!path)("grid latents equal Python's", () => {
  it("matches core.analysis.walks.slider_grid on every fixture case", () => {
    const cases: Case[] = JSON.parse(readFileSync(path!, "utf8"));
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      const g = gridLatents(Float32Array.from(c.z), c.dims, c.lo, c.hi, c.steps);
      expect(g.columns).toEqual(c.columns);
      expect(Array.from(g.current)).toEqual(c.current);
      expect(Array.from(g.values)).toEqual(c.values);
      expect(Array.from(g.latents)).toEqual(c.latents);
    }
  });
});

describe("grid latents", () => {
  it("sweeps one dimension per row and keeps z in the nearest column", () => {
    const g = gridLatents([0.2, -1], [1, 0], -3, 3, 4); // columns -3, -1, 1, 3
    expect(g.columns).toEqual([-3, -1, 1, 3]);
    expect(Array.from(g.current)).toEqual([1, 2]); // z[1] = -1 sits on column 1; z[0] = 0.2 is nearest 1
    expect(Array.from(g.latents.subarray(0, 8))).toEqual([0.2, -3, 0.2, -1, 0.2, 1, 0.2, 3].map(Math.fround));
    expect(Array.from(g.latents.subarray(8, 16))).toEqual([-3, -1, -1, -1, 0.2, -1, 3, -1].map(Math.fround));
  });
});

describe("gridRowsFor: the rows of the grid that keep a frame rate while dragging", () => {
  it("keeps every row of a fast decoder, fewer of a slow one, never none", () => {
    expect(gridRowsFor(0.5, 1, 8)).toBe(8); // digits: 4 ms for 64 images
    expect(gridRowsFor(7.6, 2.6, 8)).toBe(4); // faces 64x64: (33.3 - 2.6) / 7.6 = 4.0 rows at 30 frames/s
    expect(gridRowsFor(20, 6.6, 8, 15)).toBe(3); // (66.7 - 6.6) / 20 = 3.0 rows at 15 frames/s
    expect(gridRowsFor(20, 6.7, 8, 15)).toBe(2); // (66.7 - 6.7) / 20 = 2.998: 2
    expect(gridRowsFor(200, 5, 8)).toBe(1); // too slow for even one row: the most active still follows
    expect(gridRowsFor(10, 70, 8)).toBe(1); // the single image alone takes the frame
    expect(gridRowsFor(Number.NaN, 1, 8)).toBe(8); // nothing measured yet: the whole grid
  });
});
