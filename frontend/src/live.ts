/**
 * The Sliders page's live element (a Streamlit components-v2 component): one range input per shown latent
 * dimension and a canvas; every `input` event decodes in the browser, a release sends the latent to Python.
 */
import { Decoder, loadOrt } from "./decoder";
import { heatRGBA, toRGBA, type Shape } from "./pixels";

export interface LiveData {
  base: string; // URL of the served folder (…/app/static/live/), ends with "/"
  model: string; // URL of the decoder's .onnx file
  z: number[]; // the latent vector (all D dimensions)
  rev: number; // changes when Python puts a new vector into the sliders (start, reset, random)
  dims: { index: number; label: string }[]; // shown dimensions, in order
  lo: number;
  hi: number;
  step: number;
  shape: Shape; // C, H, W
  gaussian: boolean;
  std_max: number;
  scale: number; // CSS pixels per image pixel
}

interface Args {
  data: LiveData;
  parentElement: HTMLElement | ShadowRoot;
  setTriggerValue: (name: string, value: unknown) => void;
}

/** Timings for tests and benchmarks: ms from an input event to its image drawn, and draws done. */
export interface LiveStats {
  readyMs: number | null; // performance.now() when the first image was decoded and drawn
  lags: number[];
  draws: number[]; // performance.now() of every draw
  z: number[]; // the latent of the image drawn last
  error: string | null;
}

declare global {
  interface Window {
    __latentLive?: LiveStats;
  }
}

const CSS = `
.le-live{display:flex;gap:1.5rem;align-items:flex-start;font-family:inherit;color:inherit}
.le-sliders{flex:1 1 60%;display:flex;flex-direction:column;gap:.35rem}
.le-row{display:grid;grid-template-columns:7.5rem 1fr 3.5rem;gap:.5rem;align-items:center;font-size:.85rem}
.le-row input{width:100%;accent-color:var(--st-primary-color,#4c6a8a)}
.le-images{flex:0 0 auto;display:flex;gap:.75rem;position:sticky;top:3.75rem}
.le-images figure{margin:0;text-align:center;font-size:.8rem}
.le-images canvas{image-rendering:pixelated;display:block}
.le-status{font-size:.75rem;opacity:.7;margin-top:.25rem}
`;

class Live {
  readonly root = document.createElement("div");
  private readonly inputs: HTMLInputElement[] = [];
  private readonly values: HTMLSpanElement[] = [];
  private readonly mean = document.createElement("canvas");
  private readonly std = document.createElement("canvas");
  private readonly status = document.createElement("div");
  private data!: LiveData;
  private z = new Float32Array(0);
  private decoder: Promise<Decoder> | null = null;
  private model = "";
  private busy = false;
  private pending: number | null = null; // time of the newest input not yet decoded
  private setTrigger: Args["setTriggerValue"] = () => {};
  readonly stats: LiveStats = { readyMs: null, lags: [], draws: [], z: [], error: null };

  constructor(parent: HTMLElement | ShadowRoot) {
    const style = document.createElement("style");
    style.textContent = CSS;
    this.root.className = "le-live";
    this.root.dataset.testid = "le-live";
    parent.append(style, this.root);
    window.__latentLive = this.stats;
  }

  /** Take new data from Python; rebuild only what changed, and keep slider positions unless ``rev`` moved. */
  update({ data, setTriggerValue }: Args): void {
    this.setTrigger = setTriggerValue;
    const old = this.data;
    this.data = data;
    const layout = (d: LiveData) => JSON.stringify([d.dims, d.lo, d.hi, d.step, d.shape, d.gaussian, d.scale]);
    if (!old || old.rev !== data.rev || this.z.length !== data.z.length) this.z = Float32Array.from(data.z);
    if (!old || layout(old) !== layout(data)) this.build();
    else this.sync();
    if (data.model !== this.model) {
      this.model = data.model;
      const t0 = performance.now();
      this.decoder = loadOrt(data.base).then((ort) => Decoder.create(ort, data.model, data.z.length));
      this.decoder.then(
        () => (this.status.textContent = `decoding in this browser (decoder loaded in ${Math.round(performance.now() - t0)} ms)`),
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
      input.addEventListener("change", () => this.setTrigger("release", Array.from(this.z)));
      row.append(name, input, value);
      sliders.append(row);
      this.inputs.push(input);
      this.values.push(value);
    }
    const [, h, w] = d.shape;
    const figures = document.createElement("div");
    figures.className = "le-images";
    const canvases: [HTMLCanvasElement, string][] = [[this.mean, "decoded (live)"]];
    if (d.gaussian) canvases.push([this.std, `per-pixel std: 0 dark … ${d.std_max} yellow`]);
    for (const [canvas, caption] of canvases) {
      Object.assign(canvas, { width: w, height: h });
      canvas.style.width = `${w * d.scale}px`;
      canvas.style.height = `${h * d.scale}px`;
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = caption;
      fig.append(canvas, cap);
      figures.append(fig);
    }
    this.mean.dataset.testid = "le-mean";
    const left = document.createElement("div");
    left.style.flex = "1 1 60%";
    left.append(sliders, this.status);
    this.status.className = "le-status";
    this.status.textContent ||= "loading the decoder…";
    this.root.replaceChildren(left, figures);
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

  /** Decode the newest latent; inputs arriving while a decode runs are folded into one next decode. */
  private request(t: number): void {
    if (this.pending === null) this.pending = t;
    if (!this.busy) void this.drain();
  }

  private async drain(): Promise<void> {
    if (!this.decoder) return;
    this.busy = true;
    try {
      const decoder = await this.decoder;
      while (this.pending !== null) {
        const t = this.pending;
        this.pending = null;
        const z = Float32Array.from(this.z);
        const out = await decoder.decode(z);
        this.draw(out.mean, out.std);
        this.stats.z = Array.from(z);
        const now = performance.now();
        this.stats.lags.push(now - t);
        this.stats.draws.push(now);
        this.stats.readyMs ??= now;
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  private draw(mean: Float32Array, std: Float32Array | null): void {
    const [, h, w] = this.data.shape;
    this.mean.getContext("2d")!.putImageData(new ImageData(toRGBA(mean, this.data.shape), w, h), 0, 0);
    if (std && this.data.gaussian) {
      this.std.getContext("2d")!.putImageData(new ImageData(heatRGBA(std, this.data.shape, this.data.std_max), w, h), 0, 0);
    }
  }

  private fail(e: unknown): void {
    this.stats.error = String(e);
    this.status.textContent = `live decoding failed: ${String(e).slice(0, 200)}`;
  }
}

const instances = new WeakMap<object, Live>();

/** The components-v2 entry: called on mount and on every rerun with new data; returns the unmount cleanup. */
export default function mount(args: Args): () => void {
  let live = instances.get(args.parentElement);
  if (!live) {
    live = new Live(args.parentElement);
    instances.set(args.parentElement, live);
  }
  live.update(args);
  return () => {
    instances.delete(args.parentElement);
    live.root.remove();
  };
}
