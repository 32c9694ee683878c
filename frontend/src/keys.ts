/**
 * Keyboard moves for the live elements, as pure functions: a slider's visible arrow-key step, a grid cell's
 * neighbour, and the map point an arrow key goes to.
 */

/** Arrow keys: the direction each moves in (x right, y up, as on the map and the screen alike for left/right). */
const ARROWS: Record<string, [number, number]> = {
  ArrowRight: [1, 0],
  ArrowLeft: [-1, 0],
  ArrowUp: [0, 1],
  ArrowDown: [0, -1],
};

/** A slider's arrow-key step: 1/80 of its range (0.1 on ±4) in whole ``step``s; the input's own 0.01 is invisible. */
export function keyStep(lo: number, hi: number, step: number): number {
  return Math.max(step, Math.round((hi - lo) / 80 / step) * step);
}

/** The slider value after ``key`` (arrows: one key step, PageUp/PageDown: ten, Home/End: the ends), or null. */
export function keyValue(value: number, key: string, lo: number, hi: number, kstep: number): number | null {
  const moves: Record<string, number> = { PageUp: 10, PageDown: -10 };
  let next: number;
  if (key === "Home") next = lo;
  else if (key === "End") next = hi;
  else if (key in ARROWS) next = value + kstep * (ARROWS[key][0] || ARROWS[key][1]);
  else if (key in moves) next = value + kstep * moves[key];
  else return null;
  return Math.min(hi, Math.max(lo, Math.round(next / kstep) * kstep)); // on the key step's grid: 0.1 shows 0.10
}

/** The grid cell an arrow key moves to (rows top to bottom, columns left to right, stopping at the edges), or null. */
export function moveCell(row: number, col: number, key: string, rows: number, cols: number): [number, number] | null {
  if (!(key in ARROWS)) return null;
  const [dx, dy] = ARROWS[key];
  return [Math.min(rows - 1, Math.max(0, row - dy)), Math.min(cols - 1, Math.max(0, col + dx))];
}

/**
 * The point an arrow key moves to from point ``from`` of ``xy`` (x0, y0, x1, y1, …): the nearest one whose
 * direction lies within 45° of the arrow's; ``from`` itself when there is none; point 0 when ``from`` is -1.
 * Null for a key that is no arrow.
 */
export function nextPoint(xy: ArrayLike<number>, from: number, key: string): number | null {
  if (!(key in ARROWS)) return null;
  const n = xy.length / 2;
  if (from < 0 || from >= n) return n ? 0 : -1;
  const [dx, dy] = ARROWS[key];
  const x0 = xy[2 * from], y0 = xy[2 * from + 1];
  let best = from, bestD = Infinity;
  for (let i = 0; i < n; i++) {
    const ux = xy[2 * i] - x0, uy = xy[2 * i + 1] - y0;
    const along = ux * dx + uy * dy; // distance along the arrow
    const across = Math.abs(ux * dy - uy * dx);
    if (along <= 0 || across > along) continue; // behind, or outside the 45° cone
    const d = ux * ux + uy * uy;
    if (d < bestD) (best = i), (bestD = d);
  }
  return best;
}
