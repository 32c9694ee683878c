/** A selected region of the live map: the points inside a box or lasso polygon, by the even-odd rule. */

/**
 * Indices (ascending) of the points of ``xy`` (N * 2 values) inside ``polygon`` (x0, y0, x1, y1, ...; fewer than 3
 * vertices: none). The same arithmetic as core/maps/region.py, so Python recomputes a link's selection exactly.
 */
export function pointsInPolygon(xy: ArrayLike<number>, polygon: ArrayLike<number>): number[] {
  const k = Math.floor(polygon.length / 2), out: number[] = [];
  if (k < 3) return out;
  for (let p = 0; p < xy.length / 2; p++) {
    const x = xy[2 * p], y = xy[2 * p + 1];
    let inside = false;
    for (let i = 0, j = k - 1; i < k; j = i++) {
      const xi = polygon[2 * i], yi = polygon[2 * i + 1], xj = polygon[2 * j], yj = polygon[2 * j + 1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    if (inside) out.push(p);
  }
  return out;
}

/** A polygon for the URL: at most ``most`` vertices (every k-th of a long lasso), each rounded to 3 decimals. */
export function roundPolygon(polygon: ArrayLike<number>, most = 64): number[] {
  const k = Math.floor(polygon.length / 2), step = Math.ceil(k / most), out: number[] = [];
  for (let i = 0; i < k; i += step) out.push(Number(polygon[2 * i].toFixed(3)), Number(polygon[2 * i + 1].toFixed(3)));
  return out;
}
