import { describe, expect, it } from "vitest";
import { normals, sample, uniforms } from "./sample";

describe("sample", () => {
  it("draws the same fixed noise every time, uniform in [0, 1) and roughly standard normal", () => {
    const u = uniforms(10_000);
    expect(Array.from(uniforms(5))).toEqual(Array.from(u.subarray(0, 5)));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = normals(10_000);
    const mean = n.reduce((a, b) => a + b) / n.length;
    const sd = Math.sqrt(n.reduce((a, b) => a + (b - mean) ** 2, 0) / n.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(sd - 1)).toBeLessThan(0.05);
  });

  it("turns Bernoulli pixels on where u < p, and clips a Gaussian draw to [0, 1]", () => {
    const noise = Float32Array.from([0.2, 0.8, 0.5]);
    expect(Array.from(sample(Float32Array.from([0.5, 0.5, 0.5]), null, noise))).toEqual([1, 0, 0]);
    const eps = Float32Array.from([1, -1, 10]);
    const out = sample(Float32Array.from([0.5, 0.5, 0.5]), Float32Array.from([0.1, 0.1, 0.1]), eps);
    expect(Array.from(out).map((v) => Math.round(v * 100) / 100)).toEqual([0.6, 0.4, 1]);
  });
});
