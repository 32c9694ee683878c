/** A uniform grid over 2-D points: the nearest point to a position within a radius, in microseconds. */

import { bounds } from "./map-data";

export class PointGrid {
  private readonly cells: Int32Array; // point indices sorted by cell
  private readonly starts: Int32Array; // cells[starts[c] .. starts[c + 1]) are cell c's points
  private readonly lo: [number, number];
  private readonly size: number; // cell side, data units
  private readonly nx: number;
  private readonly ny: number;

  /** ``xy``: N * 2 values, row-major. About 4 points per cell on average. */
  constructor(private readonly xy: ArrayLike<number>) {
    const n = xy.length / 2;
    const { x0, y0, x1, y1 } = bounds(xy);
    const w = Math.max(x1 - x0, 1e-9), h = Math.max(y1 - y0, 1e-9);
    this.size = Math.sqrt((w * h * 4) / Math.max(n, 1));
    this.lo = [x0, y0];
    this.nx = Math.min(Math.floor(w / this.size) + 1, 4096);
    this.ny = Math.min(Math.floor(h / this.size) + 1, 4096);
    const cell = new Int32Array(n);
    const counts = new Int32Array(this.nx * this.ny + 1);
    for (let i = 0; i < n; i++) {
      cell[i] = this.cellOf(xy[2 * i], xy[2 * i + 1]);
      counts[cell[i] + 1]++;
    }
    for (let c = 1; c < counts.length; c++) counts[c] += counts[c - 1];
    this.starts = counts.slice();
    this.cells = new Int32Array(n);
    const fill = counts.slice(0, -1);
    for (let i = 0; i < n; i++) this.cells[fill[cell[i]]++] = i;
  }

  private clampX(x: number): number {
    return Math.min(Math.max(Math.floor((x - this.lo[0]) / this.size), 0), this.nx - 1);
  }

  private clampY(y: number): number {
    return Math.min(Math.max(Math.floor((y - this.lo[1]) / this.size), 0), this.ny - 1);
  }

  private cellOf(x: number, y: number): number {
    return this.clampY(y) * this.nx + this.clampX(x);
  }

  /** The index of the point nearest (x, y) within ``radius`` (data units; aspect ``sy`` = y unit / x unit), or -1. */
  nearest(x: number, y: number, radius: number, sy = 1): number {
    const ry = radius / sy;
    const cx0 = this.clampX(x - radius), cx1 = this.clampX(x + radius);
    const cy0 = this.clampY(y - ry), cy1 = this.clampY(y + ry);
    let best = -1, bestD = radius * radius;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * this.nx + cx;
        for (let k = this.starts[c]; k < this.starts[c + 1]; k++) {
          const i = this.cells[k];
          const dx = this.xy[2 * i] - x, dy = (this.xy[2 * i + 1] - y) * sy;
          const d = dx * dx + dy * dy;
          if (d <= bestD) {
            bestD = d;
            best = i;
          }
        }
      }
    }
    return best;
  }
}
