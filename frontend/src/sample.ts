/** One image drawn from the decoder's pixel distribution with fixed noise, so the sample moves smoothly with z. */

/** ``n`` uniform numbers in [0, 1) from a fixed seed (mulberry32): the same noise on every frame. */
export function uniforms(n: number, seed = 0): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

/** Standard normal noise (Box-Muller on fixed uniforms). */
export function normals(n: number, seed = 0): Float32Array {
  const u = uniforms(2 * n, seed);
  return Float32Array.from({ length: n }, (_, i) => Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]));
}

/** Bernoulli: each pixel on where u < mean. Gaussian: mean + std * eps, clipped to [0, 1] (core.models.PixelDist). */
export function sample(mean: Float32Array, std: Float32Array | null, noise: Float32Array): Float32Array {
  if (!std) return mean.map((m, i) => (noise[i] < m ? 1 : 0));
  return mean.map((m, i) => Math.min(Math.max(m + std[i] * noise[i], 0), 1));
}
