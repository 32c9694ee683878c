/**
 * The browser port of core.inverse.KernelInverse.transform: a map position -> a latent, as the kernel-weighted
 * mean of the map's latents (w_i = h_i^(4-P) / (h_i^2 + |x - x_i|^2)^2). Arrays come from
 * KernelInverse.to_browser_bytes(): float32 centers (N, P) | latents (N, D) | bandwidths (N).
 */

export interface InverseShape {
  n: number; // map points
  p: number; // map dimensions (2)
  d: number; // latent dimensions
}

export class KernelInverse {
  private constructor(
    readonly shape: InverseShape,
    private readonly centers: Float64Array, // (N, P)
    private readonly latents: Float32Array, // (N, D)
    private readonly h2: Float64Array, // bandwidth squared
    private readonly mass: Float64Array, // h^(4 - P): every kernel has the same mass
  ) {}

  /** From the one float32 buffer Python wrote (little-endian, the platform order of every browser). */
  static fromBuffer(buf: ArrayBuffer, shape: InverseShape): KernelInverse {
    const { n, p, d } = shape;
    const all = new Float32Array(buf);
    if (all.length !== n * (p + d + 1)) throw new Error(`inverse arrays: ${all.length} floats, expected ${n * (p + d + 1)}`);
    const centers = Float64Array.from(all.subarray(0, n * p));
    const latents = all.slice(n * p, n * (p + d));
    const h = all.subarray(n * (p + d));
    const h2 = new Float64Array(n);
    const mass = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      h2[i] = h[i] * h[i];
      mass[i] = Math.pow(h[i], 4 - p);
    }
    return new KernelInverse(shape, centers, latents, h2, mass);
  }

  /** Map points (M * P values, row-major) -> latents (M * D), like Python's transform (float64 sums). */
  transform(xy: ArrayLike<number>, out?: Float32Array): Float32Array {
    const { n, p, d } = this.shape;
    const m = xy.length / p;
    const z = out ?? new Float32Array(m * d);
    const acc = new Float64Array(d);
    for (let q = 0; q < m; q++) {
      acc.fill(0);
      let total = 0;
      for (let i = 0; i < n; i++) {
        let t = this.h2[i];
        for (let j = 0; j < p; j++) {
          const dx = xy[q * p + j] - this.centers[i * p + j];
          t += dx * dx;
        }
        const w = this.mass[i] / (t * t);
        total += w;
        const row = i * d;
        for (let k = 0; k < d; k++) acc[k] += w * this.latents[row + k];
      }
      for (let k = 0; k < d; k++) z[q * d + k] = acc[k] / total;
    }
    return z;
  }
}
