import { describe, expect, it } from "vitest";
import { keyStep, keyValue, moveCell, nextPoint } from "./keys";

describe("slider keys", () => {
  it("steps 0.1 on a ±4 range whose input step is 0.01", () => {
    const k = keyStep(-4, 4, 0.01);
    expect(k).toBeCloseTo(0.1, 12);
    expect(keyValue(0, "ArrowRight", -4, 4, k)).toBeCloseTo(0.1, 12);
    expect(keyValue(0.1, "ArrowUp", -4, 4, k)).toBeCloseTo(0.2, 12);
    expect(keyValue(0.03, "ArrowLeft", -4, 4, k)).toBeCloseTo(-0.1, 12); // back onto the 0.1 grid
    expect(keyValue(0, "PageUp", -4, 4, k)).toBeCloseTo(1, 12);
    expect(keyValue(3.95, "ArrowRight", -4, 4, k)).toBe(4);
    expect(keyValue(0, "Home", -4, 4, k)).toBe(-4);
    expect(keyValue(0, "End", -4, 4, k)).toBe(4);
    expect(keyValue(0, "a", -4, 4, k)).toBeNull();
  });
  it("never steps below the input's own step", () => {
    expect(keyStep(0, 0.5, 0.01)).toBe(0.01);
  });
});

describe("grid cells", () => {
  it("move with the arrows and stop at the edges", () => {
    expect(moveCell(0, 0, "ArrowRight", 8, 8)).toEqual([0, 1]);
    expect(moveCell(0, 0, "ArrowDown", 8, 8)).toEqual([1, 0]);
    expect(moveCell(0, 0, "ArrowUp", 8, 8)).toEqual([0, 0]);
    expect(moveCell(7, 7, "ArrowRight", 8, 8)).toEqual([7, 7]);
    expect(moveCell(3, 3, "Enter", 8, 8)).toBeNull();
  });
});

describe("map points", () => {
  // 0 at the origin; 1 right; 2 further right; 3 up and a little right; 4 far down-right (outside the right cone)
  const xy = [0, 0, 1, 0.2, 2, 0, 0.3, 1, 1, -3];
  it("go to the nearest point within 45° of the arrow", () => {
    expect(nextPoint(xy, 0, "ArrowRight")).toBe(1);
    expect(nextPoint(xy, 1, "ArrowRight")).toBe(2);
    expect(nextPoint(xy, 0, "ArrowUp")).toBe(3);
    expect(nextPoint(xy, 0, "ArrowDown")).toBe(4);
  });
  it("stay when nothing lies that way, start at point 0, ignore other keys", () => {
    expect(nextPoint(xy, 2, "ArrowRight")).toBe(2);
    expect(nextPoint(xy, -1, "ArrowLeft")).toBe(0);
    expect(nextPoint(xy, 0, "Enter")).toBeNull();
  });
});
