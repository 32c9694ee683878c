/**
 * Latents the live elements decode. The Sliders page's traversal grid: row i sweeps dimension dims[i] over the
 * slider range while the other dimensions keep the current latent, twin of core.analysis.walks.slider_grid
 * (grid.test.ts checks they agree); the Directions page's z + s·v, twin of apply_attribute (direction.test.ts).
 */

export const GRID_STEPS = 8;
// while dragging, the grid decodes only the rows that keep this frame rate (the single image shares each frame with
// the grid: at 30 the image follows the drag at 30 frames/s and the grid at no less)
export const MIN_GRID_FPS = 30;

/** How many of ``rows`` grid rows fit one frame at ``fps`` once the single image took ``singleMs``, when one row
 * took ``rowMs`` to decode and draw: at least 1 (the most active dimension always follows), at most ``rows``. */
export function gridRowsFor(rowMs: number, singleMs: number, rows: number, fps = MIN_GRID_FPS): number {
  if (!(rowMs > 0)) return rows;
  const fit = Math.floor((1000 / fps - Math.max(singleMs, 0)) / rowMs);
  return Math.max(1, Math.min(rows, fit));
}

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

/** z + s·v (core.analysis.walks.apply_attribute): summed in float64 as numpy does, then float32 for the decoder. */
export function along(z: ArrayLike<number>, v: ArrayLike<number>, s: number): Float32Array {
  const out = new Float32Array(z.length);
  for (let k = 0; k < z.length; k++) out[k] = z[k] + s * v[k];
  return out;
}
