/**
 * The Sliders page's live element (a Streamlit components-v2 component): one range input per shown latent
 * dimension, the decoded image (with one sample, and the per-pixel std of a Gaussian decoder) and a traversal
 * grid of 64 images. Inputs are coalesced to one decode per animation frame; a release sends the latent to Python.
 */
import { type ElementArgs, mounter } from "./element";
import { type Decoder, decoderFor, loadOrt, marks } from "./decoder";
import { gridLatents, gridRowsFor, GRID_STEPS, MIN_GRID_FPS } from "./grid";
import { FrameLoop } from "./frames";
import { GRID_CSS, GridView } from "./gridview";
import { keyStep, keyValue } from "./keys";
import { heatRGBA, toRGBA, type Shape } from "./pixels";
import { normals, sample, uniforms } from "./sample";

/** One shown slider (core.export.SliderDim). */
export interface SliderDim {
  index: number;
  label: string;
}

/** What Python sends on every rerun: core.export.SlidersBundle (tests/test_element_contract.py checks the keys). */
export interface LiveData {
  version: number; // SlidersBundle.VERSION
  base: string; // URL of the served onnxruntime-web folder (…/app/static/live/ort/), ends with "/"
  model: string; // URL of the decoder's .onnx file
  model_gz: string | null; // URL of its gzip copy
  z: number[]; // the latent vector (all D dimensions)
  rev: number; // changes when Python puts a new vector into the sliders (start, reset, random)
  dims: SliderDim[]; // shown dimensions, in order
  grid: number[]; // the traversal grid's rows: the most active dimensions, most active first
  lo: number;
  hi: number;
  step: number;
  shape: Shape; // C, H, W
  gaussian: boolean;
  std_max: number;
  scale: number; // CSS pixels per image pixel
}

type Args = ElementArgs<LiveData>;

/** Timings and the last outputs, for tests and benchmarks (nothing in the page reads them). */
export interface LiveStats {
  readyMs: number | null; // performance.now() when the first image was decoded and drawn
  lags: number[]; // ms from the first input of a frame to its single image drawn
  single: number[]; // ms to decode and draw the single image (and its sample / std)
  grid: number[]; // ms to decode the grid's latents (all 64, or the rows that keep MIN_GRID_FPS) and draw them
  gridRows: number[]; // rows each of those grid draws decoded
  draws: number[]; // performance.now() of every single-image draw
  gridDraws: number[]; // performance.now() of every grid draw
  z: number[]; // the latent of the image drawn last
  latest: number[]; // the sliders' latent now (drawn or not yet)
  gridZ: number[]; // the latent the last whole grid drawn follows
  gridLatents: Float32Array | null; // the 64 latents of that grid, and their decoded means
  gridMean: Float32Array | null;
  marks: Record<string, number>; // when each loading step finished
  error: string | null;
}

declare global {
  interface Window {
    __latentLive?: LiveStats;
  }
}

const ORT_BASE = new URL(/* @vite-ignore */ "./ort/", import.meta.url).href;
marks.module = performance.now();
void loadOrt(ORT_BASE).catch(() => {}); // start fetching the runtime before the first data arrives

const CSS = `
.le-live{display:flex;gap:1.5rem;align-items:flex-start;font-family:inherit;color:inherit;flex-wrap:wrap}
.le-left{flex:1 1 18rem;min-width:16rem}
.le-sliders{display:flex;flex-direction:column;gap:.35rem}
.le-row{display:grid;grid-template-columns:7.5rem 1fr 3.5rem;gap:.5rem;align-items:center;font-size:.85rem}
.le-row input{width:100%;accent-color:var(--st-primary-color,#4c6a8a)}
.le-right{flex:0 0 auto;display:flex;flex-direction:column;gap:.75rem;position:sticky;top:3.75rem}
.le-images{display:flex;gap:.75rem}
.le-live figure{margin:0;text-align:center;font-size:.8rem}
.le-images canvas{image-rendering:pixelated;display:block}
.le-status{font-size:.75rem;opacity:.7;margin-top:.25rem}
.le-right>.le-status{width:0;min-width:100%} /* wraps at the images' width: a note never widens its column mid-drag */
${GRID_CSS}`;

class Live {
  readonly root = document.createElement("div");
  private readonly inputs: HTMLInputElement[] = [];
  private readonly values: HTMLSpanElement[] = [];
  private readonly mean = document.createElement("canvas");
  private readonly sampled = document.createElement("canvas");
  private readonly std = document.createElement("canvas");
  private readonly status = document.createElement("div");
  private grid: GridView | null = null;
  private noise: Float32Array = new Float32Array(0);
  private data!: LiveData;
  private z = new Float32Array(0);
  private decoder: Promise<Decoder> | null = null;
  private model = "";
  private readonly loop = new FrameLoop((t) => this.tick(t));
  private readonly gridNote = document.createElement("div"); // says when the grid follows with fewer rows
  private rowMs: number | null = null; // ms one grid row took to decode and draw, measured on the last grid
  private wholeGrid = false; // the next frame decodes every row, however slow (the drag has paused)
  private settle = 0; // the timer that asks for that frame
  private setTrigger: Args["setTriggerValue"] = () => {};
  // "ready" is a state value, not a trigger: a trigger sent while the page's script runs can be dropped
  // (streamlit/streamlit#16732); a state value persists
  private setState: Args["setStateValue"] = () => {};
  readonly stats: LiveStats = {
    readyMs: null,
    lags: [],
    single: [],
    grid: [],
    gridRows: [],
    draws: [],
    gridDraws: [],
    z: [],
    latest: [],
    gridZ: [],
    gridLatents: null,
    gridMean: null,
    marks,
    error: null,
  };

  constructor(parent: HTMLElement | ShadowRoot) {
    const style = document.createElement("style");
    style.textContent = CSS;
    this.root.className = "le-live";
    this.root.dataset.testid = "le-live";
    parent.append(style, this.root);
    window.__latentLive = this.stats;
  }

  /** Take new data from Python; rebuild only what changed, and keep slider positions unless ``rev`` moved. */
  update({ data, setTriggerValue, setStateValue }: Args): void {
    this.setTrigger = setTriggerValue;
    this.setState = setStateValue;
    const old = this.data;
    this.data = data;
    const layout = (d: LiveData) => JSON.stringify([d.dims, d.grid, d.lo, d.hi, d.step, d.shape, d.gaussian, d.scale]);
    if (!old || old.rev !== data.rev || this.z.length !== data.z.length) this.z = Float32Array.from(data.z);
    if (!old || layout(old) !== layout(data)) this.build();
    else this.sync();
    if (data.model !== this.model) {
      this.model = data.model;
      const t0 = performance.now();
      // one session per model URL for the page's lifetime: a rerun never creates it again
      this.decoder = decoderFor(data.base, data.model, data.model_gz, data.z.length);
      this.decoder.then(
        () => (this.status.textContent = `decoding in this browser (decoder ready in ${Math.round(performance.now() - t0)} ms)`),
        (e) => this.fail(e),
      );
    }
    this.request(performance.now());
  }

  private build(): void {
    const d = this.data;
    const sliders = document.createElement("div");
    sliders.className = "le-sliders";
    this.inputs.length = this.values.length = 0;
    for (const { index, label } of d.dims) {
      const row = document.createElement("label");
      row.className = "le-row";
      const name = document.createElement("span");
      name.textContent = label;
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: String(d.lo), max: String(d.hi), step: String(d.step) });
      input.dataset.dim = String(index);
      input.setAttribute("aria-label", label);
      const value = document.createElement("span");
      input.addEventListener("input", (e) => this.onInput(index, input, e.timeStamp));
      // the input's own arrow step (d.step, 0.01 on ±4) moves the image invisibly: a key moves one visible step
      input.addEventListener("keydown", (e) => {
        const next = keyValue(Number(input.value), e.key, d.lo, d.hi, keyStep(d.lo, d.hi, d.step));
        if (next === null) return;
        e.preventDefault();
        input.value = String(next);
        this.onInput(index, input, e.timeStamp);
        this.release();
      });
      input.addEventListener("change", () => this.release());
      row.append(name, input, value);
      sliders.append(row);
      this.inputs.push(input);
      this.values.push(value);
    }
    const [c, h, w] = d.shape;
    const figures = document.createElement("div");
    figures.className = "le-images";
    const canvases: [HTMLCanvasElement, string][] = [
      [this.mean, "decoded (live)"],
      [this.sampled, d.gaussian ? "one sample" : "one sample (each pixel on or off)"],
    ];
    if (d.gaussian) canvases.push([this.std, `per-pixel std: 0 dark … ${d.std_max} yellow`]);
    const scale = d.gaussian ? Math.max(1, Math.floor((d.scale * 2) / 3)) : d.scale; // three images fit one row too
    for (const [canvas, caption] of canvases) {
      Object.assign(canvas, { width: w, height: h });
      canvas.style.width = `${w * scale}px`;
      canvas.style.height = `${h * scale}px`;
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = caption;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${caption}: the image decoded from the sliders' latent`);
      fig.append(canvas, cap);
      figures.append(fig);
    }
    this.mean.dataset.testid = "le-mean";
    this.sampled.dataset.testid = "le-sample";
    this.std.dataset.testid = "le-std";
    this.noise = d.gaussian ? normals(c * h * w) : uniforms(c * h * w);
    this.grid = new GridView(
      d.shape,
      d.grid.map((i) => `z${i}`),
      GRID_STEPS,
      Math.max(1, d.scale / 4),
      (row, col) => this.pick(row, col),
    );
    const left = document.createElement("div");
    left.className = "le-left";
    left.append(sliders, this.status);
    const right = document.createElement("div");
    right.className = "le-right";
    this.gridNote.className = "le-status";
    this.gridNote.dataset.testid = "le-grid-note";
    right.append(figures, this.grid.root, this.gridNote);
    this.status.className = "le-status";
    this.status.textContent ||= "loading the decoder…";
    this.root.replaceChildren(left, right);
    this.sync();
  }

  /** Put the latent into the sliders and their value labels. */
  private sync(): void {
    this.data.dims.forEach(({ index }, i) => {
      this.inputs[i].value = String(this.z[index]);
      this.values[i].textContent = this.z[index].toFixed(2);
    });
  }

  private onInput(index: number, input: HTMLInputElement, t: number): void {
    this.z[index] = Number(input.value);
    this.values[this.data.dims.findIndex((d) => d.index === index)].textContent = this.z[index].toFixed(2);
    this.request(t);
  }

  private release(): void {
    this.setTrigger("release", Array.from(this.z));
  }

  /** A click on a grid cell: its latent becomes the sliders' latent, sent back like a release. */
  private pick(row: number, col: number): void {
    const g = gridLatents(this.z, this.data.grid, this.data.lo, this.data.hi);
    this.z[this.data.grid[row]] = Math.fround(g.values[row * GRID_STEPS + col]);
    this.sync();
    this.request(performance.now());
    this.release();
  }

  /** Ask for a decode on the next animation frame; any number of inputs before it make one decode. */
  private request(t: number): void {
    this.stats.latest = Array.from(this.z);
    this.loop.request(t);
  }

  /** One frame: the single image, then the 64-image grid, each one onnxruntime call, for the newest latent. */
  private async tick(t: number): Promise<void> {
    if (!this.decoder) return; // update() asks again once it has one
    try {
      const decoder = await this.decoder;
      const z = Float32Array.from(this.z);
      const t0 = performance.now();
      const one = await decoder.decode(z);
      this.drawSingle(one.mean, one.std);
      const t1 = performance.now();
      this.stats.single.push(t1 - t0);
      this.stats.lags.push(t1 - t);
      this.stats.draws.push(t1);
      this.stats.z = Array.from(z);
      if (this.stats.readyMs === null) {
        this.stats.readyMs = t1;
        marks.first ??= t1;
        this.setState("ready", true); // Python draws the page's map (Plotly) only now
      }
      // a slow decoder (a big colour image): while dragging, only the rows that keep MIN_GRID_FPS follow, the
      // most active first; the whole grid once the drag pauses
      const all = this.data.grid.length;
      const rows = this.wholeGrid || this.rowMs === null ? all : gridRowsFor(this.rowMs, t1 - t0, all);
      this.wholeGrid = false;
      const dims = this.data.grid.slice(0, rows);
      const g = gridLatents(z, dims, this.data.lo, this.data.hi);
      const out = await decoder.decode(g.latents); // every cell in one call
      this.grid!.draw(out.mean);
      this.grid!.label(g, dims);
      const t2 = performance.now();
      this.rowMs = (t2 - t1) / rows;
      this.stats.grid.push(t2 - t1);
      this.stats.gridRows.push(rows);
      this.stats.gridDraws.push(t2);
      window.clearTimeout(this.settle);
      if (rows < all) {
        this.gridNote.textContent =
          `While you drag, the grid's first ${rows} of ${all} rows follow (all ${all} take about ` +
          `${Math.round(this.rowMs * all)} ms here, under ${MIN_GRID_FPS} frames/s); every row when you stop.`;
        this.settle = window.setTimeout(() => {
          this.wholeGrid = true;
          this.request(performance.now());
        }, 250);
      } else {
        this.stats.gridZ = Array.from(z);
        this.stats.gridLatents = g.latents;
        this.stats.gridMean = out.mean;
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private drawSingle(mean: Float32Array, std: Float32Array | null): void {
    const { shape, gaussian, std_max } = this.data;
    const [, h, w] = shape;
    const put = (c: HTMLCanvasElement, rgba: Uint8ClampedArray<ArrayBuffer>) =>
      c.getContext("2d")!.putImageData(new ImageData(rgba, w, h), 0, 0);
    put(this.mean, toRGBA(mean, shape));
    put(this.sampled, toRGBA(sample(mean, gaussian ? std : null, this.noise), shape));
    if (std && gaussian) put(this.std, heatRGBA(std, shape, std_max));
  }

  private fail(e: unknown): void {
    if (this.stats.error === null) this.setState("ready", true); // the page's map need not wait any more
    this.stats.error = String(e);
    this.status.textContent = `live decoding failed: ${String(e).slice(0, 200)}`;
  }
}

/** The components-v2 entry: called on mount and on every rerun with new data; returns the unmount cleanup. */
export default mounter((parent) => new Live(parent), () => (marks.mount ??= performance.now()));
