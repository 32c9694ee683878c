// The element's class counts against Python's (ui.panels.class_counts), on a fixture tests/test_map_live.py writes
// (HIST_FIXTURE=<json>): each point's label, selections, and Python's counts of each.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { classCounts } from "./map-hist";

const path = process.env.HIST_FIXTURE;

describe.skipIf(!path)("class counts parity with Python", () => {
  it("gives Python's counts for every selection", () => {
    const fx: { labels: number[]; k: number; picks: number[][]; counts: number[][] } = JSON.parse(readFileSync(path!, "utf8"));
    const labels = Float32Array.from(fx.labels); // as the element holds them (the served float32 file)
    fx.picks.forEach((picked, j) => expect(classCounts(labels, picked, fx.k)).toEqual(fx.counts[j]));
  });
});

describe("classCounts", () => {
  it("counts the picked points' classes and ignores labels outside [0, k)", () => {
    const labels = [0, 2, 2, 1, 5, 2];
    expect(classCounts(labels, [1, 2, 3, 5], 3)).toEqual([0, 1, 3]);
    expect(classCounts(labels, [4, 0], 3)).toEqual([1, 0, 0]);
    expect(classCounts(labels, [], 3)).toEqual([0, 0, 0]);
  });
});
