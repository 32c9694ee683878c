/**
 * Draws the traversal grid: one canvas laid out like torchvision's make_grid (2-pixel grey padding, as the
 * server path's ui.images.grid), rows labelled by dimension, columns by value, the current cell of each row
 * outlined (an overlay, so the canvas holds only decoded pixels), and a click that picks a cell.
 */
import type { GridLatents } from "./grid";
import { moveCell } from "./keys";
import { toByte, type Shape } from "./pixels";

const PAD = 2;
const PAD_BYTE = toByte(0.35); // make_grid's pad_value in ui.images.grid

export class GridView {
  readonly root = document.createElement("figure");
  readonly canvas = document.createElement("canvas");
  private readonly marks: HTMLDivElement[] = [];
  private readonly rowLabels: HTMLSpanElement[] = [];
  private readonly top = Object.assign(document.createElement("div"), { className: "le-grid-cols" });
  private image: ImageData | null = null;
  private readonly focusMark = document.createElement("div"); // the keyboard's cell
  private cell: [number, number] = [0, 0];
  private described: { columns: number[]; values: Float64Array; dims: number[] } | null = null;

  constructor(
    private readonly shape: Shape,
    private readonly labels: string[], // one per row
    private readonly steps: number,
    private readonly scale: number,
    onPick: (row: number, col: number) => void,
  ) {
    const [, h, w] = shape;
    const rows = labels.length;
    Object.assign(this.canvas, { width: steps * (w + PAD) + PAD, height: rows * (h + PAD) + PAD });
    this.canvas.style.width = `${this.canvas.width * scale}px`;
    this.canvas.style.height = `${this.canvas.height * scale}px`;
    this.canvas.dataset.testid = "le-grid";
    this.canvas.title = "click a cell (or focus the grid, move with the arrow keys, press Enter) to move the sliders there";
    this.canvas.tabIndex = 0; // reachable from the keyboard: arrows move a focus box, Enter picks its cell
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "traversal grid");
    this.focusMark.className = "le-grid-focus";
    this.canvas.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        onPick(...this.cell);
        return;
      }
      const next = moveCell(...this.cell, e.key, rows, steps);
      if (!next) return;
      e.preventDefault();
      this.cell = next;
      this.showFocus();
    });
    this.canvas.addEventListener("focus", () => this.showFocus());
    this.canvas.addEventListener("blur", () => (this.focusMark.style.display = "none"));
    this.canvas.addEventListener("click", (e) => {
      const r = this.canvas.getBoundingClientRect();
      const col = Math.floor(((e.clientX - r.left) / scale - PAD / 2) / (w + PAD));
      const row = Math.floor(((e.clientY - r.top) / scale - PAD / 2) / (h + PAD));
      if (row >= 0 && row < rows && col >= 0 && col < steps) onPick(row, col);
    });
    const cellH = (h + PAD) * scale;
    const left = document.createElement("div"); // row labels, one per image row
    left.className = "le-grid-rows";
    left.style.paddingTop = `${(PAD / 2) * scale}px`;
    for (const label of labels) {
      const span = document.createElement("span");
      span.textContent = label;
      span.style.height = `${cellH}px`;
      left.append(span);
      this.rowLabels.push(span);
    }
    this.top.style.paddingLeft = `${(PAD / 2) * scale}px`;
    this.top.style.gridTemplateColumns = `repeat(${steps}, ${(w + PAD) * scale}px)`;
    const stage = document.createElement("div"); // the canvas and its markers
    stage.className = "le-grid-stage";
    stage.append(this.canvas, this.focusMark);
    for (let i = 0; i < rows; i++) {
      const m = document.createElement("div");
      m.className = "le-grid-mark";
      Object.assign(m.style, { width: `${w * scale}px`, height: `${h * scale}px`, top: `${(PAD + i * (h + PAD)) * scale}px` });
      stage.append(m);
      this.marks.push(m);
    }
    const body = document.createElement("div");
    body.className = "le-grid";
    body.append(document.createElement("span"), this.top, left, stage);
    const cap = document.createElement("figcaption");
    cap.textContent = "traversal: each row sweeps one dimension over the slider range (outlined: the current value)";
    this.root.append(body, cap);
  }

  /** Column labels: the evenly spaced values; each row's label gives its current value (its outlined cell). */
  label({ columns, values, current }: GridLatents, dims: number[]): void {
    const [, , w] = this.shape;
    if (!this.top.childElementCount) {
      for (const v of columns) this.top.append(Object.assign(document.createElement("span"), { textContent: v.toFixed(1) }));
    }
    dims.forEach((d, i) => {
      this.rowLabels[i].textContent = `z${d} = ${values[i * this.steps + current[i]].toFixed(2)}`;
      this.marks[i].style.left = `${(PAD + current[i] * (w + PAD)) * this.scale}px`;
    });
    this.described = { columns, values, dims };
    this.describe();
  }

  /** The canvas' label: what the grid shows and, for the keyboard, the focused cell's dimension and value. */
  private describe(): void {
    const g = this.described;
    if (!g) return;
    const [row, col] = this.cell;
    const [first, last] = [g.columns[0], g.columns[g.columns.length - 1]];
    this.canvas.setAttribute(
      "aria-label",
      `traversal grid: ${g.dims.length} rows (${g.dims.map((d) => `z${d}`).join(", ")}), each swept from ` +
        `${first.toFixed(1)} to ${last.toFixed(1)}; cell z${g.dims[row]} = ${g.values[row * this.steps + col].toFixed(2)}`,
    );
  }

  /** Outline the keyboard's cell and name it in the label. */
  private showFocus(): void {
    const [, h, w] = this.shape;
    const [row, col] = this.cell;
    Object.assign(this.focusMark.style, {
      display: "block",
      width: `${w * this.scale}px`,
      height: `${h * this.scale}px`,
      left: `${(PAD + col * (w + PAD)) * this.scale}px`,
      top: `${(PAD + row * (h + PAD)) * this.scale}px`,
    });
    this.describe();
  }

  /** Draw images (C, H, W) from one decoder output, cell by cell from the first row: all rows * steps of them,
   * or the first rows only (while dragging a slow decoder), the other rows keeping what they showed. */
  draw(mean: Float32Array): void {
    const [c, h, w] = this.shape;
    const { width, height } = this.canvas;
    const n = h * w;
    if (!this.image) {
      this.image = new ImageData(width, height);
      const px = this.image.data;
      for (let i = 0; i < px.length; i += 4) {
        px[i] = px[i + 1] = px[i + 2] = PAD_BYTE;
        px[i + 3] = 255;
      }
    }
    const px = this.image.data;
    const cells = mean.length / (c * n);
    for (let k = 0; k < cells; k++) {
      const x0 = PAD + (k % this.steps) * (w + PAD);
      const y0 = PAD + Math.floor(k / this.steps) * (h + PAD);
      const off = k * c * n;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const o = ((y0 + y) * width + x0 + x) * 4;
          for (let ch = 0; ch < 3; ch++) px[o + ch] = toByte(mean[off + (c === 1 ? 0 : ch) * n + y * w + x]);
        }
      }
    }
    this.canvas.getContext("2d")!.putImageData(this.image, 0, 0);
  }
}

export const GRID_CSS = `
.le-grid{display:grid;grid-template-columns:auto auto;font-size:.7rem;line-height:1}
.le-grid-cols{display:grid;text-align:center;opacity:.75;padding-bottom:.2rem}
.le-grid-rows{display:flex;flex-direction:column;padding-right:.35rem;opacity:.75;white-space:nowrap;
  font-variant-numeric:tabular-nums;min-width:7em} /* "z15 = -10.00": a value's sign never resizes the grid mid-drag */
.le-grid-rows span{display:flex;align-items:center;justify-content:flex-end}
.le-grid-stage{position:relative}
.le-grid-stage canvas{image-rendering:pixelated;display:block;cursor:pointer}
.le-grid-focus{position:absolute;display:none;box-sizing:border-box;outline:3px dashed #d33;pointer-events:none}
.le-grid-stage canvas:focus-visible{outline:2px solid var(--st-primary-color,#4c6a8a);outline-offset:2px}
.le-grid-mark{position:absolute;box-sizing:border-box;outline:2px solid var(--st-primary-color,#4c6a8a);pointer-events:none}
`;
