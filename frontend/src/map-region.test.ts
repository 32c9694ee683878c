import { describe, expect, it } from "vitest";
import { pointsInPolygon, roundPolygon } from "./map-region";

// the cases of tests/test_map_live.py::test_points_in_a_polygon_by_the_even_odd_rule (core/maps/region.py)
const xy = new Float32Array([0.5, 0.5, 1.5, 0.5, 0.5, 1.5, 2.5, 2.5, 0.25, 0.75]);

describe("pointsInPolygon", () => {
  it("takes the points inside a square and an L, by the even-odd rule", () => {
    expect(pointsInPolygon(xy, [0, 0, 2, 0, 2, 2, 0, 2])).toEqual([0, 1, 2, 4]);
    const more = new Float32Array([...xy, 1.5, 1.5]);
    expect(pointsInPolygon(more, [0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2])).toEqual([0, 1, 2, 4]);
  });

  it("takes nothing for fewer than 3 vertices", () => {
    expect(pointsInPolygon(xy, [0, 0, 2, 0])).toEqual([]);
  });
});

describe("roundPolygon", () => {
  it("rounds to 3 decimals and keeps at most `most` vertices", () => {
    expect(roundPolygon([0.12345, 1.98765, 2, 3, 4, 5])).toEqual([0.123, 1.988, 2, 3, 4, 5]);
    const long = Array.from({ length: 400 }, (_, i) => i);
    expect(roundPolygon(long, 64).length / 2).toBeLessThanOrEqual(64);
  });
});
