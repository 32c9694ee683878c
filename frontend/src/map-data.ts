/** What the map element fetches once per URL (float32 files Python serves under static/live/maps/), and a
 * minimal linear scale that regl-scatterplot keeps in sync with its camera (data <-> canvas pixels). */

const files = new Map<string, Promise<Float32Array>>();

/** A served little-endian float32 file, fetched once per page load whatever the reruns. */
export function fetchFloats(url: string): Promise<Float32Array> {
  let f = files.get(url);
  if (!f) {
    f = fetch(url).then(async (r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return new Float32Array(await r.arrayBuffer());
    });
    f.catch(() => files.delete(url)); // a failed fetch is tried again on the next rerun
    files.set(url, f);
  }
  return f;
}

export interface LinearScale {
  (v: number): number;
  domain(d?: number[]): any;
  range(r?: number[]): any;
  invert(px: number): number;
  copy(): LinearScale;
}

/** A d3-like linear scale: the subset of d3-scale's API regl-scatterplot calls (domain, range) plus invert. */
export function linearScale(d0: number, d1: number, r0 = 0, r1 = 1): LinearScale {
  let dom = [d0, d1];
  let ran = [r0, r1];
  const s = ((v: number) => ran[0] + ((v - dom[0]) / (dom[1] - dom[0])) * (ran[1] - ran[0])) as LinearScale;
  s.domain = (d?: number[]) => (d ? ((dom = [d[0], d[1]]), s) : [...dom]);
  s.range = (r?: number[]) => (r ? ((ran = [r[0], r[1]]), s) : [...ran]);
  s.invert = (px: number) => dom[0] + ((px - ran[0]) / (ran[1] - ran[0])) * (dom[1] - dom[0]);
  s.copy = () => linearScale(dom[0], dom[1], ran[0], ran[1]);
  return s;
}

/** The data -> normalized device coordinates map: centred, one scale for both axes (the map keeps its aspect). */
export interface Frame {
  cx: number;
  cy: number;
  half: number; // data units from the centre to the edge of NDC [-1, 1]
}

/** The box of 2-D points (N * 2 values, row-major). */
export interface Bounds {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function bounds(xy: ArrayLike<number>): Bounds {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i + 1 < xy.length; i += 2) {
    x0 = Math.min(x0, xy[i]);
    x1 = Math.max(x1, xy[i]);
    y0 = Math.min(y0, xy[i + 1]);
    y1 = Math.max(y1, xy[i + 1]);
  }
  return { x0, y0, x1, y1 };
}

export function frameOf(xy: Float32Array): Frame {
  const { x0, y0, x1, y1 } = bounds(xy);
  return { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, half: (Math.max(x1 - x0, y1 - y0, 1e-9) / 2) * 1.05 };
}
