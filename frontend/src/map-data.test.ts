import { describe, expect, it } from "vitest";
import { bounds, frameOf } from "./map-data";

describe("bounds", () => {
  it("is the box of row-major 2-D points", () => {
    expect(bounds(Float32Array.from([1, -2, 3, 5, -1, 0]))).toEqual({ x0: -1, y0: -2, x1: 3, y1: 5 });
    expect(frameOf(Float32Array.from([0, 0, 2, 4]))).toEqual({ cx: 1, cy: 2, half: 2 * 1.05 });
  });
});
