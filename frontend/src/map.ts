/**
 * The Map page's live element (a Streamlit components-v2 component): the dataset as a WebGL scatter
 * (regl-scatterplot: pan, wheel zoom, box and lasso) with the decoded image of the map position under the pointer
 * beside it, computed here (inverse.ts, then the ONNX decoder). A click sends the point or the position to Python,
 * a box or lasso the selected indices. One instance per element key lives in module state, so reruns and remounts
 * keep the scatter, its camera and its selection; only changed data is applied.
 */
import type { ElementArgs } from "./element";
import createScatterplot from "regl-scatterplot";
import { decoderFor, loadOrt, mark, type Decoder } from "./decoder";
import { KernelInverse, type InverseShape } from "./inverse";
import { legend, type Colour } from "./map-colours";
import { bounds, fetchFloats, frameOf, linearScale, type Frame, type LinearScale } from "./map-data";
import { classCounts, histogram } from "./map-hist";
import { toRGBA, type Shape } from "./pixels";
import { PointGrid } from "./scatter-index";
import { nextPoint } from "./keys";
import { pinned, type Hovered } from "./map-pick";
import { pointsInPolygon, roundPolygon } from "./map-region";
import { viridisHex } from "./viridis";

/** What Python sends on every rerun: core.export.MapBundle (tests/test_element_contract.py checks the keys). */
export interface MapLiveData {
  version: number; // MapBundle.VERSION
  key: string; // element key + view key: the module-state slot of this map
  base: string; // served onnxruntime-web folder, ends with "/"
  model: string; // the decoder's .onnx URL
  model_gz: string | null; // its gzip copy
  shape: Shape;
  latent_dim: number;
  n: number;
  xy: string; // URL: float32 (N, 2) map positions
  labels: string; // URL: float32 (N,) class labels
  classes: string[];
  class_colours: string[]; // one per class, as the panel's histogram (ui.figures.palette)
  inverse: { url: string } & InverseShape;
  colour: Colour;
  point: [number, number] | null; // the current point's map position
  find: { index?: number; label?: number; indices?: number[] } | null;
  clear: number; // a new number: drop the selection
  view: [number, number, number, number] | null; // the camera a link brought (x0, x1, y0, y1, map units)
  sel: number[] | null; // the box / lasso polygon a link brought (x0, y0, x1, y1, ..., map units)
  overlay: boolean;
  height: number;
}

type Args = ElementArgs<MapLiveData>;

/** For tests and benchmarks: timings and the last decoded image. */
export interface MapStats {
  readyMs: number | null; // performance.now() when the points were first drawn and the decoder loaded
  lags: number[]; // ms from a pointer event to its image drawn
  computeMs: number[]; // of which inverse + decode + draw (the rest is waiting for the main thread)
  draws: number;
  xy: number[]; // the map position decoded last
  z: number[]; // its latent
  mean: Float32Array | null; // its decoded mean image (C, H, W)
  index: number; // the point under the pointer at that time, or -1
  clicks: unknown[]; // what was sent to Python
  selected: number; // points in the last box / lasso
  selectStartAt: number | null; // performance.now() when the box / lasso closed (before its points were found)
  selectedAt: number | null; // performance.now() when that selection was sent
  counts: number[]; // its class counts, drawn in the element at once
  found: number[]; // the points the last search highlighted
  histAt: number | null; // performance.now() when that histogram was drawn
  selectParts: number[]; // ms of the last selection's parts: points found, histogram drawn, scatter highlight
  frames: number; // frames the scatter drew
  views: number; // camera changes seen
  viewsSent: number; // cameras reported to Python (after a pan or zoom rested)
  polygon: number[]; // the last box / lasso polygon, map units (x0, y0, x1, y1, ...)
  domain: number[]; // the map box in view: x0, x1, y0, y1 (data units)
  error: string | null;
}

declare global {
  interface Window {
    __latentMap?: MapStats;
  }
}

const PICK_PX = 6; // a click or hover this close to a point is on that point
const CLICK_PX = 4; // a press that moved more than this is a pan, not a click
const GRID = 10; // the decoded overlay: GRID x GRID cells over the map's box
const VIEW_MS = 400; // the camera is reported once it has rested this long (a pan or zoom has ended)

const CSS = `
.le-map{position:relative;width:100%;background:#fff;overflow:hidden;border-radius:.25rem;font-family:inherit;color:#31333f;
  user-select:none;touch-action:none}
.le-map canvas{position:absolute;left:0;top:0}
.le-map .le-top,.le-map .le-below{pointer-events:none}
.le-tools{position:absolute;left:.5rem;top:.5rem;display:flex;gap:.25rem;z-index:3}
.le-tools button{font:inherit;font-size:.75rem;padding:.15rem .5rem;border:1px solid #d0d3da;border-radius:.25rem;background:#fff;
  cursor:pointer;color:inherit}
.le-tools button[aria-pressed=true]{background:#31333f;color:#fff;border-color:#31333f}
.le-legend{position:absolute;right:.5rem;top:.5rem;z-index:3;background:rgba(255,255,255,.85);padding:.3rem .5rem;
  border-radius:.25rem;font-size:.75rem;max-height:80%;overflow:auto}
.le-legend-title{font-weight:600;margin-bottom:.2rem}
.le-legend-row{display:flex;gap:.4rem;align-items:center;line-height:1.3}
.le-swatch{width:.7rem;height:.7rem;border-radius:50%;display:inline-block}
.le-colourbar{width:.8rem;height:8rem;border-radius:.15rem}
.le-colourbar-ends{display:flex;flex-direction:column;justify-content:space-between;height:8rem}
.le-card{position:absolute;z-index:4;pointer-events:none;background:#fff;border:1px solid #d0d3da;border-radius:.35rem;
  padding:.3rem;box-shadow:0 2px 8px rgba(0,0,0,.15);font-size:.72rem;text-align:center;display:none}
.le-card canvas{position:static;image-rendering:pixelated;display:block}
.le-hist-live{position:absolute;right:.5rem;bottom:.5rem;z-index:3;background:rgba(255,255,255,.9);padding:.3rem .5rem;
  border-radius:.25rem;font-size:.65rem;pointer-events:none;min-width:12rem}
.le-hist-title{font-weight:600;font-size:.75rem;margin-bottom:.15rem}
.le-hist-bars{display:flex;align-items:flex-end;gap:2px;height:90px}
.le-hist-bars>div{flex:1;display:flex;flex-direction:column;align-items:center;justify-content:flex-end}
.le-status{position:absolute;left:.5rem;bottom:.35rem;z-index:3;font-size:.7rem;opacity:.75;pointer-events:none}
`;

type Mode = "pan" | "box" | "lasso";

class MapView {
  readonly root = document.createElement("div");
  readonly stats: MapStats = {
    readyMs: null, lags: [], computeMs: [], draws: 0, xy: [], z: [], mean: null, index: -1, clicks: [], selected: 0, selectStartAt: null, selectedAt: null, counts: [], found: [], histAt: null, selectParts: [], frames: 0, views: 0, viewsSent: 0, polygon: [], domain: [], error: null,
  };
  private readonly canvas = document.createElement("canvas");
  private readonly below = document.createElement("canvas"); // decoded overlay, under the points
  private readonly top = document.createElement("canvas"); // the current point's marker
  private readonly card = document.createElement("div");
  private readonly cardImage = document.createElement("canvas");
  private readonly cardText = document.createElement("div");
  private readonly status = document.createElement("div");
  private readonly tools = document.createElement("div");
  private legendBox: HTMLElement | null = null;
  private histBox: HTMLElement | null = null;
  private readonly scatter: ReturnType<typeof createScatterplot>;
  private xScale: LinearScale = linearScale(-1, 1);
  private yScale: LinearScale = linearScale(-1, 1);
  private data!: MapLiveData;
  private setTrigger: Args["setTriggerValue"] = () => {};
  private frame: Frame = { cx: 0, cy: 0, half: 1 };
  private xy: Float32Array = new Float32Array(0);
  private labels: Float32Array = new Float32Array(0);
  private grid: PointGrid | null = null;
  private inverse: KernelInverse | null = null;
  private decoder: Promise<Decoder> | null = null;
  private shown = { xy: "", colour: "", inverse: "", model: "", find: "", clear: -1, overlay: false };
  private overlayTiles: HTMLCanvasElement[] = [];
  private overlayCells: [number, number, number, number][] = []; // x0, y0, x1, y1 in data units
  private mode: Mode = "pan";
  private down: { x: number; y: number } | null = null;
  private lassoing = false;
  private selectToken = 0; // the selection whose highlight is pending
  private busy = false;
  private pending: { x: number; y: number; index: number; t: number } | null = null;
  // what the card shows and where the pointer was then: a click there pins exactly that
  private hovered: Hovered<{ x: number; y: number; index: number }> | null = null;
  private keyed = -1; // the point the arrow keys highlight
  private width = 0;
  private viewTimer = 0;
  private reported = ""; // the camera last reported to Python (or placed from a link): a new one is sent
  private moved = false; // the user moved the camera (drag, wheel, reset): only then is it reported

  constructor() {
    this.root.className = "le-map";
    this.root.dataset.testid = "le-map";
    const style = document.createElement("style");
    style.textContent = CSS;
    this.below.className = "le-below";
    this.top.className = "le-top";
    this.canvas.dataset.testid = "le-map-canvas";
    this.card.className = "le-card";
    this.card.dataset.testid = "le-map-card";
    this.cardImage.dataset.testid = "le-map-card-image";
    this.cardImage.setAttribute("role", "img");
    this.cardImage.setAttribute("aria-label", "decoded image of the hovered map position");
    this.canvas.tabIndex = 0; // reachable from the keyboard (onKey)
    this.canvas.setAttribute("aria-label", "latent map: arrow keys move between points, Enter pins the highlighted one");
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    this.canvas.addEventListener("blur", () => (this.card.style.display = "none"));
    this.card.append(this.cardImage, this.cardText);
    this.status.className = "le-status";
    this.status.textContent = "loading the map…";
    this.tools.className = "le-tools";
    this.root.append(style, this.below, this.canvas, this.top, this.tools, this.card, this.status);
    this.buildTools();
    this.scatter = createScatterplot({
      canvas: this.canvas,
      width: 300,
      height: 300,
      xScale: this.xScale as any,
      yScale: this.yScale as any,
      backgroundColor: [1, 1, 1, 1],
      pointColorActive: "#111111",
      pointColorHover: "#111111",
      opacityInactiveScale: 0.35,
      pointSizeSelected: 1,
      pointOutlineWidth: 1,
      actionKeyMap: { lasso: "shift" },
      deselectOnDblClick: false,
      deselectOnEscape: false,
      lassoMinDelay: 0,
      lassoMinDist: 2,
    } as any);
    this.scatter.subscribe("view", () => this.onView());
    this.scatter.subscribe("lassoStart", () => (this.lassoing = true));
    this.scatter.subscribe("lassoEnd", ({ coordinates }: { coordinates: ArrayLike<number> | number[][] }) =>
      this.onLasso(coordinates),
    );
    this.scatter.subscribe("draw", () => this.stats.frames++);
    // Clicks are ours: a capture listener keeps regl-scatterplot from turning them into a one-point selection.
    const swallow = (e: Event) => e.target === this.canvas && e.stopPropagation(); // the tool buttons keep theirs
    this.root.addEventListener("click", (e) => (swallow(e), this.onClick(e)), true);
    this.root.addEventListener("dblclick", swallow, true);
    this.canvas.addEventListener("pointerdown", (e) => ((this.down = { x: e.clientX, y: e.clientY }), (this.moved = true)));
    // a press that went further than CLICK_PX at any time is a drag, even one that ends where it began (a closed lasso)
    this.canvas.addEventListener("pointermove", (e) => {
      if (this.down && Math.hypot(e.clientX - this.down.x, e.clientY - this.down.y) > CLICK_PX) this.down = null;
    });
    this.canvas.addEventListener("wheel", () => (this.moved = true), { passive: true });
    // Chromium dispatches pointermove at the next animation frame (~8 ms later on average, measured);
    // pointerrawupdate (secure contexts: localhost, https) comes as the input arrives, so the card follows sooner.
    const move = "onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove";
    this.canvas.addEventListener(move, (e) => this.onMove(e as PointerEvent));
    this.canvas.addEventListener("pointerleave", () => ((this.card.style.display = "none"), (this.hovered = null)));
    new ResizeObserver(() => this.resize()).observe(this.root);
    window.__latentMap = this.stats;
  }

  private buildTools(): void {
    const buttons: [string, string, () => void][] = [
      ["pan", "Pan", () => this.setMode("pan")],
      ["box", "Box", () => this.setMode("box")],
      ["lasso", "Lasso", () => this.setMode("lasso")],
      ["reset", "Reset view", () => ((this.moved = true), this.fit(true))],
    ];
    for (const [id, label, act] of buttons) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.tool = id;
      if (id !== "reset") b.setAttribute("aria-pressed", String(id === this.mode));
      b.addEventListener("click", (e) => (e.stopPropagation(), act()));
      this.tools.append(b);
    }
  }

  /** The whole map in view (NDC [-1, 1] squared, whatever the canvas' aspect). */
  private fit(transition: boolean): void {
    void this.scatter.zoomToArea({ x: -1, y: -1, width: 2, height: 2 }, { transition } as any);
  }

  /** A new map's camera and selection: those a link brought, else the whole map and none. */
  private place(data: MapLiveData): void {
    const { cx, cy, half } = this.frame;
    if (data.view) {
      const [x0, x1, y0, y1] = data.view;
      const area = { x: (x0 - cx) / half, y: (y0 - cy) / half, width: (x1 - x0) / half, height: (y1 - y0) / half };
      void this.scatter.zoomToArea(area, { transition: false } as any);
    } else this.fit(false);
    this.reported = data.view ? this.domainText() : "";
    if (data.sel) this.applySelection(data.sel, false);
  }

  /** The camera as Python stores it: x0, x1, y0, y1 with 6 significant digits. */
  private domainText(): string {
    return [...this.xScale.domain(), ...this.yScale.domain()].map((v) => Number(v.toPrecision(6))).join(",");
  }

  /** The camera has rested after a change: report it (a link then brings it back), unless Python knows it. */
  private reportView(): void {
    const text = this.domainText();
    if (!this.data || !this.moved || text === this.reported || this.stats.readyMs === null) return;
    this.reported = text;
    this.stats.viewsSent++;
    this.setTrigger("view", text.split(",").map(Number));
  }

  private setMode(mode: Mode): void {
    this.mode = mode;
    this.scatter.set({ mouseMode: mode === "pan" ? "panZoom" : "lasso", lassoType: mode === "box" ? "rectangle" : "freeform" } as any);
    this.tools.querySelectorAll("button[data-tool]").forEach((b) => {
      if (b instanceof HTMLElement && b.dataset.tool !== "reset") b.setAttribute("aria-pressed", String(b.dataset.tool === mode));
    });
  }

  /** New data from Python: fetch and apply only what changed (a rerun keeps camera, selection and decoder). */
  async update({ data, setTriggerValue }: Args): Promise<void> {
    this.setTrigger = setTriggerValue;
    this.data = data;
    this.root.style.height = `${data.height}px`;
    this.resize();
    try {
      if (data.model !== this.shown.model) {
        this.shown.model = data.model;
        const t0 = performance.now();
        this.decoder = decoderFor(data.base, data.model, data.model_gz, data.latent_dim);
        this.decoder.then(() => this.say(`decoding in this browser (decoder loaded in ${Math.round(performance.now() - t0)} ms)`));
      }
      // every file this update needs is asked for at once; each is awaited where it is used
      const newInverse = data.inverse.url !== this.shown.inverse;
      const newMap = data.xy !== this.shown.xy;
      const newColour = newMap || data.colour.url !== this.shown.colour;
      const inverseBuf = newInverse ? fetchFloats(data.inverse.url) : null;
      const mapBufs = newMap ? Promise.all([fetchFloats(data.xy), fetchFloats(data.labels)]) : null;
      const colourBuf = newColour ? fetchFloats(data.colour.url) : null;
      for (const p of [inverseBuf, mapBufs, colourBuf]) p?.catch(() => {}); // a failure is thrown where awaited
      if (inverseBuf) {
        const buf = await inverseBuf;
        this.inverse = KernelInverse.fromBuffer(buf.buffer as ArrayBuffer, data.inverse);
        this.shown.inverse = data.inverse.url;
        this.overlayTiles = [];
      }
      if (mapBufs) {
        [this.xy, this.labels] = await mapBufs;
        this.frame = frameOf(this.xy);
        this.grid = new PointGrid(this.xy);
        const { cx, cy, half } = this.frame;
        // new scale objects: setting one scale updates the other's domain to the view, before it would be read
        this.xScale = linearScale(cx - half, cx + half);
        this.yScale = linearScale(cy - half, cy + half);
        this.scatter.set({ xScale: this.xScale, yScale: this.yScale } as any);
        this.overlayTiles = [];
        this.showHistogram([]); // a new map starts without a selection
      }
      if (colourBuf) await this.drawPoints(data.colour, await colourBuf, newMap);
      if (colourBuf) mark("map-drawn");
      if (newMap) this.place(data);
      if (data.clear !== this.shown.clear) {
        if (this.shown.clear >= 0) this.scatter.deselect({ preventEvent: true } as any);
        if (this.shown.clear >= 0) this.showHistogram([]);
        this.shown.clear = data.clear;
      }
      const find = JSON.stringify(data.find);
      if (find !== this.shown.find) {
        this.shown.find = find;
        this.applyFind(data.find);
      }
      if (data.overlay !== this.shown.overlay || (data.overlay && !this.overlayTiles.length)) {
        this.shown.overlay = data.overlay;
        if (data.overlay) await this.buildOverlay();
      }
      this.resize();
      this.onView();
      if (this.stats.readyMs === null && this.decoder) {
        await this.decoder;
        this.stats.readyMs = performance.now();
      }
    } catch (e) {
      this.fail(e);
    }
  }

  private async drawPoints(colour: Colour, values: Float32Array, newMap: boolean): Promise<void> {
    const n = this.xy.length / 2;
    const x = new Float32Array(n), y = new Float32Array(n), z = new Float32Array(n);
    const { cx, cy, half } = this.frame;
    const span = colour.kind === "value" ? colour.hi - colour.lo || 1 : 1;
    for (let i = 0; i < n; i++) {
      x[i] = (this.xy[2 * i] - cx) / half;
      y[i] = (this.xy[2 * i + 1] - cy) / half;
      z[i] = colour.kind === "value" ? Math.min(Math.max((values[i] - colour.lo) / span, 0), 1) : values[i];
    }
    const size = n > 20000 ? 2.5 : 4;
    this.scatter.set({
      colorBy: "valueA",
      pointColor: colour.kind === "value" ? viridisHex(64) : colour.colours,
      pointSize: size,
      opacity: colour.kind === "value" ? 0.9 : 0.8,
    } as any);
    const keep = newMap ? [] : Array.from(this.scatter.get("selectedPoints") as ArrayLike<number>);
    await this.scatter.draw({ x, y, z } as any, {
      zDataType: colour.kind === "value" ? "continuous" : "categorical",
      select: keep.length ? keep : undefined,
      preventFilterReset: true,
    } as any);
    this.shown.xy = this.data.xy;
    this.shown.colour = colour.url;
    this.legendBox?.remove();
    this.legendBox = legend(colour);
    this.root.append(this.legendBox);
  }

  private applyFind(find: MapLiveData["find"]): void {
    if (!find) return;
    const n = this.xy.length / 2;
    const hits: number[] = [];
    if (find.index !== undefined && find.index < n) hits.push(find.index);
    if (find.label !== undefined) for (let i = 0; i < n; i++) if (this.labels[i] === find.label) hits.push(i);
    for (const i of find.indices ?? []) if (Number.isInteger(i) && i >= 0 && i < n) hits.push(i); // an attribute filter
    this.stats.found = hits;
    if (!hits.length) return;
    this.scatter.select(hits, { preventEvent: true } as any);
    this.scatter.zoomToPoints(hits, { padding: hits.length === 1 ? 3 : 0.1, transition: true } as any);
  }

  private resize(): void {
    const w = Math.floor(this.root.clientWidth), h = this.data?.height ?? 640;
    if (w < 50 || (w === this.width && this.canvas.style.height === `${h}px`)) return; // detached or hidden: keep
    this.width = w;
    this.scatter.set({ width: w, height: h });
    for (const c of [this.below, this.top]) {
      c.width = Math.round(w * devicePixelRatio);
      c.height = Math.round(h * devicePixelRatio);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    this.onView();
  }

  /** The camera moved (or the data changed): redraw the layers drawn in data units. */
  private onView(): void {
    this.stats.views++;
    this.stats.domain = [...this.xScale.domain(), ...this.yScale.domain()];
    clearTimeout(this.viewTimer);
    this.viewTimer = window.setTimeout(() => this.reportView(), VIEW_MS);
    this.drawMarker();
    this.drawOverlay();
  }

  private drawMarker(): void {
    const ctx = this.top.getContext("2d")!;
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    ctx.clearRect(0, 0, this.top.width, this.top.height);
    const p = this.data?.point;
    if (!p) return;
    const [x, y] = [this.xScale(p[0]), this.yScale(p[1])];
    for (const [colour, width] of [["#fff", 4], ["#000", 2]] as const) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(x - 7, y - 7);
      ctx.lineTo(x + 7, y + 7);
      ctx.moveTo(x + 7, y - 7);
      ctx.lineTo(x - 7, y + 7);
      ctx.stroke();
    }
  }

  /** Decode a GRID x GRID grid of cell centres (inverse + decoder, once per map) into tiles. */
  private async buildOverlay(): Promise<void> {
    if (!this.inverse || !this.decoder) return;
    const { x0, y0, x1, y1 } = bounds(this.xy);
    const sx = (x1 - x0) / GRID, sy = (y1 - y0) / GRID;
    const centres: number[] = [];
    this.overlayCells = [];
    for (let r = 0; r < GRID; r++) {
      for (let c = 0; c < GRID; c++) {
        centres.push(x0 + sx * (c + 0.5), y0 + sy * (r + 0.5));
        this.overlayCells.push([x0 + sx * c, y0 + sy * r, x0 + sx * (c + 1), y0 + sy * (r + 1)]);
      }
    }
    const out = await (await this.decoder).decode(this.inverse.transform(centres));
    const [, h, w] = this.data.shape;
    const size = this.data.shape.reduce((a, b) => a * b);
    this.overlayTiles = this.overlayCells.map((_, i) => {
      const tile = document.createElement("canvas");
      Object.assign(tile, { width: w, height: h });
      tile.getContext("2d")!.putImageData(new ImageData(toRGBA(out.mean, this.data.shape, i * size), w, h), 0, 0);
      return tile;
    });
    this.drawOverlay();
  }

  private drawOverlay(): void {
    const ctx = this.below.getContext("2d")!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.below.width, this.below.height);
    if (!this.data?.overlay || !this.overlayTiles.length) return;
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = 0.6; // the points stay readable on top
    this.overlayCells.forEach(([x0, y0, x1, y1], i) => {
      const [px0, py0, px1, py1] = [this.xScale(x0), this.yScale(y1), this.xScale(x1), this.yScale(y0)];
      ctx.drawImage(this.overlayTiles[i], px0, py0, px1 - px0, py1 - py0);
    });
  }

  /** Canvas pixel -> map position, and the point within PICK_PX pixels of it (or -1). */
  private locate(e: MouseEvent): { x: number; y: number; index: number } {
    const rect = this.canvas.getBoundingClientRect();
    const px = e.clientX - rect.left, py = e.clientY - rect.top;
    const x = this.xScale.invert(px), y = this.yScale.invert(py);
    const radius = Math.abs(this.xScale.invert(PICK_PX) - this.xScale.invert(0));
    return { x, y, index: this.grid ? this.grid.nearest(x, y, radius) : -1 };
  }

  private onMove(e: PointerEvent): void {
    if (e.buttons || !this.inverse) {
      this.card.style.display = "none"; // panning or lassoing: no card
      this.hovered = null;
      return;
    }
    const at = this.locate(e);
    this.hovered = { clientX: e.clientX, clientY: e.clientY, at };
    const rect = this.root.getBoundingClientRect();
    this.showCard(at, e.clientX - rect.left, e.clientY - rect.top, e.timeStamp);
  }

  /** Arrow keys move a highlighted point (the nearest that way), Enter pins it; the card shows it as a hover does. */
  private onKey(e: KeyboardEvent): void {
    if (!this.inverse || !this.xy.length) return;
    if (e.key === "Enter" && this.keyed >= 0) {
      e.preventDefault();
      this.pin({ x: this.xy[2 * this.keyed], y: this.xy[2 * this.keyed + 1], index: this.keyed });
      return;
    }
    const next = nextPoint(this.xy, this.keyed, e.key);
    if (next === null || next < 0) return;
    e.preventDefault(); // the page does not scroll
    this.keyed = next;
    const [x, y] = [this.xy[2 * next], this.xy[2 * next + 1]];
    (this.scatter as any).hover(next, { showReticleOnce: true, preventEvent: true });
    const canvas = this.canvas.getBoundingClientRect(), root = this.root.getBoundingClientRect();
    const left = canvas.left - root.left + this.xScale(x), topPx = canvas.top - root.top + this.yScale(y);
    this.showCard({ x, y, index: next }, left, topPx, e.timeStamp);
  }

  /** The hover card beside a position (CSS pixels in the root), and a decode of the location it names. */
  private showCard(at: { x: number; y: number; index: number }, left: number, topPx: number, t: number): void {
    const [x, y] = at.index >= 0 ? [this.xy[2 * at.index], this.xy[2 * at.index + 1]] : [at.x, at.y];
    const rect = this.root.getBoundingClientRect();
    this.card.style.display = "block";
    // beside the pointer, on the side with room
    this.card.style.left = `${left + 16 + 130 > rect.width ? left - 16 - 130 : left + 16}px`;
    this.card.style.top = `${Math.min(Math.max(topPx - 60, 4), rect.height - 150)}px`;
    this.cardText.textContent =
      at.index >= 0
        ? `#${at.index} · class ${this.data.classes[this.labels[at.index]] ?? this.labels[at.index]}`
        : `map (${x.toFixed(2)}, ${y.toFixed(2)})`;
    this.cardImage.setAttribute("aria-label", `decoded image of ${this.cardText.textContent}`);
    this.pending = { x, y, index: at.index, t };
    if (!this.busy) void this.drain();
  }

  /** Decode the newest hovered position; moves arriving during a decode fold into one next decode. */
  private async drain(): Promise<void> {
    if (!this.decoder || !this.inverse) return;
    this.busy = true;
    try {
      const decoder = await this.decoder;
      while (this.pending) {
        const { x, y, index, t } = this.pending;
        this.pending = null;
        const t0 = performance.now();
        const z = this.inverse.transform([x, y]);
        const out = await decoder.decode(z);
        const [, h, w] = this.data.shape;
        const scale = Math.max(1, Math.floor(112 / h));
        if (this.cardImage.width !== w) {
          Object.assign(this.cardImage, { width: w, height: h });
          this.cardImage.style.width = `${w * scale}px`;
          this.cardImage.style.height = `${h * scale}px`;
        }
        this.cardImage.getContext("2d")!.putImageData(new ImageData(toRGBA(out.mean, this.data.shape), w, h), 0, 0);
        Object.assign(this.stats, { xy: [x, y], z: Array.from(z), mean: out.mean, index });
        this.stats.draws++;
        this.stats.lags.push(performance.now() - t);
        this.stats.computeMs.push(performance.now() - t0);
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  private onClick(e: MouseEvent): void {
    const down = this.down;
    this.down = null;
    // a click in Box or Lasso mode pins too (a drag there selects); shift-drag is the lasso in Pan mode
    if (e.target !== this.canvas || e.shiftKey || !down) return;
    if (Math.hypot(e.clientX - down.x, e.clientY - down.y) > CLICK_PX) return; // a pan or a box
    this.pin(pinned(this.hovered, e) ?? this.locate(e));
  }

  /** Make a point (or a free map position) the current point, here at once and in Python. */
  private pin(at: { x: number; y: number; index: number }): void {
    const value = at.index >= 0 ? { index: at.index } : { xy: [at.x, at.y] };
    this.data.point = at.index >= 0 ? [this.xy[2 * at.index], this.xy[2 * at.index + 1]] : [at.x, at.y];
    this.drawMarker(); // at once; Python's rerun sends the same position back
    this.stats.clicks.push(value);
    this.setTrigger("click", value);
  }

  /** A box or lasso ended: its polygon in map units, rounded as the URL keeps it, selects (here and in Python). */
  private onLasso(coordinates: ArrayLike<number> | number[][]): void {
    if (!this.lassoing) return;
    this.lassoing = false;
    this.down = null; // the click that follows this release is the lasso's end, not a click
    const flat = Array.from(coordinates as ArrayLike<number | number[]>).flat() as number[];
    const { cx, cy, half } = this.frame;
    const polygon = roundPolygon(flat.map((v, i) => (i % 2 ? cy : cx) + v * half));
    this.applySelection(polygon, true);
  }

  /** Select the points inside ``polygon`` (map units) with Python's rule, show their histogram, maybe send it. */
  private applySelection(polygon: number[], send: boolean): void {
    const t0 = (this.stats.selectStartAt = performance.now());
    const picked = pointsInPolygon(this.xy, polygon);
    const t1 = performance.now();
    this.stats.selected = picked.length;
    this.stats.selectedAt = performance.now();
    this.stats.polygon = polygon;
    if (send) this.setTrigger("select", { polygon: picked.length ? polygon : [] });
    this.showHistogram(picked);
    const t2 = performance.now();
    this.stats.selectParts = [t1 - t0, t2 - t1];
    // The highlight after the histogram is painted: regl-scatterplot's select takes ~0.2 µs a point and its next
    // frame draws every selected point again, outlined (over a second for half a million in software WebGL).
    const token = ++this.selectToken;
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (token !== this.selectToken) return; // a newer selection came first
        const t3 = performance.now();
        this.scatter.select(picked, { preventEvent: true } as any);
        this.stats.selectParts = [t1 - t0, t2 - t1, performance.now() - t3];
      }, 0),
    );
  }

  /** The selection's class histogram over the map, at once (none for an empty selection). */
  private showHistogram(picked: number[]): void {
    this.histBox?.remove();
    this.histBox = null;
    this.stats.counts = picked.length ? classCounts(this.labels, picked, this.data.classes.length) : [];
    this.stats.histAt = performance.now();
    if (!picked.length) return;
    this.histBox = histogram(this.stats.counts, this.data.classes, this.data.class_colours, picked.length);
    this.root.append(this.histBox);
  }

  private say(text: string): void {
    this.status.textContent = `${text} · drag: pan · wheel: zoom · shift-drag: lasso · click: pin (in every mode)`;
  }

  private fail(e: unknown): void {
    this.stats.error = String(e);
    this.status.textContent = `live map failed: ${String(e).slice(0, 200)}`;
  }
}

// Start fetching onnxruntime-web when this module is first imported: by the page's preload element (ui/element.py)
// while the server still runs the page, so the map finds the runtime loaded.
mark("map-module");
void loadOrt(new URL(/* @vite-ignore */ "./ort/", import.meta.url).href).catch(() => {});

// One view per element key for the page's life: a remount re-attaches it with its camera and selection.
const views = new Map<string, MapView>();

/** The components-v2 entry: called on mount and on every rerun with new data; returns the unmount cleanup. */
export default function mount(args: Args): () => void {
  if (typeof WebAssembly === "undefined") {
    args.setTriggerValue("fallback", "no WebAssembly"); // (the elements' loader, loader.ts, checks first)
    return () => {};
  }
  let view = views.get(args.data.key);
  if (!view) {
    view = new MapView();
    views.set(args.data.key, view);
  }
  if (view.root.parentNode !== args.parentElement) args.parentElement.append(view.root);
  window.__latentMap = view.stats;
  mark("map-mount");
  void view.update(args);
  const v = view;
  return () => v.root.remove();
}
