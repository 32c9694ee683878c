/** The exported ONNX decoder run by onnxruntime-web (WebAssembly, one thread): latents in, images out. */
import type * as Ort from "onnxruntime-web/wasm";

export type OrtModule = typeof Ort;

export interface Decoded {
  mean: Float32Array; // (B, C, H, W)
  std: Float32Array | null; // Gaussian decoders only
}

export const WASM = "ort-wasm-simd-threaded.wasm";

/** When each loading step finished (performance.now()), for the benchmark's breakdown of the first image. */
export const marks: Record<string, number> = {};

/** Note a loading step in ``marks`` and in the page's performance timeline (``le:<name>``, for the benchmarks). */
export function mark(name: string): void {
  marks[name] = performance.now();
  performance.mark?.(`le:${name}`);
}

/** Bytes of ``gz`` (a gzip file, inflated by the browser's DecompressionStream), else of ``plain``. */
export async function fetchBytes(plain: string, gz: string | null): Promise<Uint8Array> {
  if (gz && typeof DecompressionStream !== "undefined") {
    const r = await fetch(gz);
    if (r.ok && r.body) {
      return new Uint8Array(await new Response(r.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
    }
  }
  const r = await fetch(plain);
  if (!r.ok) throw new Error(`${plain}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

let ort: Promise<OrtModule> | null = null;

/**
 * Import the served onnxruntime-web (``<base>ort.wasm.min.mjs``) and, at the same time, fetch its wasm as the
 * build's gzip copy (Streamlit would gzip the plain file again on every request); once per page.
 */
export function loadOrt(base: string): Promise<OrtModule> {
  ort ??= (async () => {
    const wasm = fetchBytes(base + WASM, base + WASM + ".gz").then(
      (b) => (mark("wasm"), b),
      () => null, // ORT then fetches the plain .wasm itself
    );
    const mod: OrtModule = await import(/* @vite-ignore */ `${base}ort.wasm.min.mjs`);
    mark("ort");
    mod.env.wasm.numThreads = 1; // threads would need cross-origin isolation, and cost start-up
    mod.env.wasm.wasmPaths = base; // the .mjs glue comes from here either way
    const bytes = await wasm;
    if (bytes) mod.env.wasm.wasmBinary = bytes;
    return mod;
  })();
  ort.catch(() => (ort = null)); // a failed load is retried on the next call
  return ort;
}

const sessions = new Map<string, Promise<Decoder>>();

/** The decoder at ``model`` (its gzip copy ``gz`` preferred), one session per URL for the page's lifetime. */
export function decoderFor(base: string, model: string, gz: string | null, latentDim: number): Promise<Decoder> {
  let dec = sessions.get(model);
  if (!dec) {
    const bytes = fetchBytes(model, gz).then((b) => (mark("model"), b));
    dec = loadOrt(base).then(async (o) => {
      const d = await Decoder.create(o, await bytes, latentDim);
      mark("session");
      return d;
    });
    sessions.set(model, dec);
    dec.catch(() => sessions.delete(model));
  }
  return dec;
}

export class Decoder {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly latentDim: number,
  ) {}

  /** A session on the model at ``model`` (a URL, or bytes). */
  static async create(ort: OrtModule, model: string | Uint8Array, latentDim: number): Promise<Decoder> {
    const session =
      typeof model === "string"
        ? await ort.InferenceSession.create(model, { executionProviders: ["wasm"] })
        : await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    return new Decoder(ort, session, latentDim);
  }

  /** Latents (B * D values, row-major) -> mean (and std) images. */
  async decode(z: Float32Array): Promise<Decoded> {
    const input = new this.ort.Tensor("float32", z, [z.length / this.latentDim, this.latentDim]);
    const out = await this.session.run({ z: input });
    const std = this.session.outputNames.includes("std") ? (out.std.data as Float32Array) : null;
    return { mean: out.mean.data as Float32Array, std };
  }
}
