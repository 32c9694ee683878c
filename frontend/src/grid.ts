/**
 * The Sliders page's traversal grid: row i sweeps dimension dims[i] over the slider range while the other
 * dimensions keep the current latent. Twin of core.analysis.walks.slider_grid (grid.test.ts checks they agree).
 */

export const GRID_STEPS = 8;

export interface GridLatents {
  columns: number[]; // (steps) the evenly spaced values over [lo, hi]
  latents: Float32Array; // (rows * steps * D), row-major: one batch for the decoder
  values: Float64Array; // (rows * steps) the swept dimension's value in each cell
  current: Int32Array; // (rows) the column that holds z itself
}

/** Each row: ``steps`` values evenly over [lo, hi], the one nearest z[d] replaced by z[d] (so that column is z). */
export function gridLatents(z: ArrayLike<number>, dims: number[], lo: number, hi: number, steps = GRID_STEPS): GridLatents {
  const D = z.length;
  const base = Array.from({ length: steps }, (_, j) => lo + ((hi - lo) * j) / (steps - 1)); // as Python: float64
  const latents = new Float32Array(dims.length * steps * D);
  const values = new Float64Array(dims.length * steps);
  const current = new Int32Array(dims.length);
  dims.forEach((d, i) => {
    let best = 0;
    for (let j = 1; j < steps; j++) if (Math.abs(base[j] - z[d]) < Math.abs(base[best] - z[d])) best = j; // first of ties
    current[i] = best;
    for (let j = 0; j < steps; j++) {
      const cell = (i * steps + j) * D;
      for (let k = 0; k < D; k++) latents[cell + k] = z[k];
      values[i * steps + j] = j === best ? z[d] : base[j];
      latents[cell + d] = values[i * steps + j];
    }
  });
  return { columns: base, latents, values, current };
}
