/**
 * The Directions page's live element (a Streamlit components-v2 component): one range input for the strength s
 * and the image of z + s·v decoded in this browser, once per animation frame while it moves; a release sends s
 * to Python, which draws the strip from 0 to s and the reader's chart.
 */
import { type ElementArgs, mounter } from "./element";
import { type Decoder, decoderFor, loadOrt, marks } from "./decoder";
import { FrameLoop } from "./frames";
import { along } from "./grid";
import { keyStep, keyValue } from "./keys";
import { toRGBA, type Shape } from "./pixels";

/** What Python sends on every rerun: core.export.DirectionBundle (tests/test_element_contract.py checks the keys). */
export interface DirectionData {
  version: number; // DirectionBundle.VERSION
  base: string; // URL of the served onnxruntime-web folder, ends with "/"
  model: string; // URL of the decoder's .onnx file
  model_gz: string | null; // URL of its gzip copy
  z: number[]; // the start latent (D)
  v: number[]; // the direction (D)
  s: number; // the strength Python holds (the page's dr_strength)
  lo: number; // the strength's range
  hi: number;
  step: number;
  shape: Shape; // C, H, W
  scale: number; // CSS pixels per image pixel
  label: string; // what the image shows, in words (its alt text)
}

type Args = ElementArgs<DirectionData>;

/** Timings and the last image, for tests and benchmarks (nothing in the page reads them). */
export interface DirectionStats {
  readyMs: number | null; // performance.now() when the first image was drawn
  lags: number[]; // ms from the first input of a frame to its image drawn
  decode: number[]; // ms to decode and draw one image
  draws: number[]; // performance.now() of every draw
  s: number | null; // the strength of the image drawn last
  z: number[]; // its latent, z + s·v as float32
  mean: number | null; // the mean of its decoded floats
  latest: number | null; // the strength the input holds now (drawn or not yet)
  marks: Record<string, number>;
  error: string | null;
}

declare global {
  interface Window {
    __latentDirection?: DirectionStats;
  }
}

const ORT_BASE = new URL(/* @vite-ignore */ "./ort/", import.meta.url).href;
marks.module = performance.now();
void loadOrt(ORT_BASE).catch(() => {}); // start fetching the runtime before the first data arrives

const CSS = `
.le-dir{display:flex;flex-direction:column;gap:.4rem;font-family:inherit;color:inherit}
.le-dir label{display:grid;grid-template-columns:5.5rem 1fr 3rem;gap:.5rem;align-items:center;font-size:.875rem}
.le-dir input{width:100%;accent-color:var(--st-primary-color,#4c6a8a)}
.le-dir figure{margin:0;font-size:.8rem}
.le-dir canvas{image-rendering:pixelated;display:block}
.le-dir .le-status{font-size:.75rem;opacity:.7}`;

class Direction {
  readonly root = document.createElement("div");
  private readonly input = document.createElement("input");
  private readonly value = document.createElement("span");
  private readonly canvas = document.createElement("canvas");
  private readonly caption = document.createElement("figcaption");
  private readonly status = document.createElement("div");
  private data!: DirectionData;
  private decoder: Promise<Decoder> | null = null;
  private model = "";
  private readonly loop = new FrameLoop((t) => this.draw(t));
  private setTrigger: Args["setTriggerValue"] = () => {};
  readonly stats: DirectionStats = {
    readyMs: null,
    lags: [],
    decode: [],
    draws: [],
    s: null,
    z: [],
    mean: null,
    latest: null,
    marks,
    error: null,
  };

  constructor(parent: HTMLElement | ShadowRoot) {
    const style = document.createElement("style");
    style.textContent = CSS;
    this.root.className = "le-dir";
    this.root.dataset.testid = "le-direction";
    const row = document.createElement("label");
    const name = document.createElement("span");
    name.textContent = "Strength s";
    this.input.type = "range";
    this.input.setAttribute("aria-label", "Strength s");
    this.input.addEventListener("input", (e) => this.onInput(e.timeStamp));
    // the same visible key steps as the Sliders page's ranges (keys.ts); each key press is a release
    this.input.addEventListener("keydown", (e) => {
      const { lo, hi, step } = this.data;
      const next = keyValue(Number(this.input.value), e.key, lo, hi, keyStep(lo, hi, step));
      if (next === null) return;
      e.preventDefault();
      this.input.value = String(next);
      this.onInput(e.timeStamp);
      this.release();
    });
    this.input.addEventListener("change", () => this.release());
    row.append(name, this.input, this.value);
    const fig = document.createElement("figure");
    this.canvas.setAttribute("role", "img");
    this.canvas.dataset.testid = "le-direction-image";
    fig.append(this.canvas, this.caption);
    this.status.className = "le-status";
    this.status.textContent = "loading the decoder…";
    this.root.append(row, fig, this.status);
    parent.append(style, this.root);
    window.__latentDirection = this.stats;
  }

  /** Take new data from Python: a new strength from Python moves the input; a new z, v or shape redraws. */
  update({ data, setTriggerValue }: Args): void {
    this.setTrigger = setTriggerValue;
    const old = this.data;
    this.data = data;
    Object.assign(this.input, { min: String(data.lo), max: String(data.hi), step: String(data.step) });
    if (!old || old.s !== data.s) this.input.value = String(data.s);
    const [, h, w] = data.shape;
    if (this.canvas.width !== w || this.canvas.height !== h) Object.assign(this.canvas, { width: w, height: h });
    this.canvas.style.width = `${w * data.scale}px`;
    this.canvas.style.height = `${h * data.scale}px`;
    this.canvas.setAttribute("aria-label", `${data.label}, decoded in this browser`);
    this.caption.textContent = `z + s·v at s = ${this.strength().toFixed(1)} (live)`;
    this.value.textContent = this.strength().toFixed(1);
    if (data.model !== this.model) {
      this.model = data.model;
      const t0 = performance.now();
      this.decoder = decoderFor(data.base, data.model, data.model_gz, data.z.length);
      this.decoder.then(
        () => (this.status.textContent = `decoding in this browser (decoder ready in ${Math.round(performance.now() - t0)} ms)`),
        (e) => this.fail(e),
      );
    }
    this.loop.request(performance.now());
  }

  /** The input's strength: read back from the input, which snaps it to the step grid (0.3, not 0.30000000000000004). */
  private strength(): number {
    return Number(this.input.value);
  }

  private onInput(t: number): void {
    const s = this.strength();
    this.value.textContent = s.toFixed(1);
    this.caption.textContent = `z + s·v at s = ${s.toFixed(1)} (live)`;
    this.stats.latest = s;
    this.loop.request(t);
  }

  private release(): void {
    this.setTrigger("release", this.strength());
  }

  /** One frame: decode z + s·v for the newest strength and draw it. */
  private async draw(t: number): Promise<void> {
    if (!this.decoder) return;
    try {
      const decoder = await this.decoder;
      const s = this.strength();
      const z = along(this.data.z, this.data.v, s);
      const t0 = performance.now();
      const { mean } = await decoder.decode(z);
      const [, h, w] = this.data.shape;
      this.canvas.getContext("2d")!.putImageData(new ImageData(toRGBA(mean, this.data.shape), w, h), 0, 0);
      const t1 = performance.now();
      let sum = 0;
      for (const x of mean) sum += x;
      Object.assign(this.stats, { s, z: Array.from(z), mean: sum / mean.length });
      this.stats.decode.push(t1 - t0);
      this.stats.lags.push(t1 - t);
      this.stats.draws.push(t1);
      if (this.stats.readyMs === null) {
        this.stats.readyMs = t1;
        marks.first ??= t1;
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    this.stats.error = String(e);
    this.status.textContent = `live decoding failed: ${String(e).slice(0, 200)}`;
  }
}

/** The components-v2 entry: called on mount and on every rerun with new data; returns the unmount cleanup. */
export default mounter((parent) => new Direction(parent), () => (marks.mount ??= performance.now()));
