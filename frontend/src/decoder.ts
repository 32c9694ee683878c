/** The exported ONNX decoder run by onnxruntime-web (WebAssembly, one thread): latents in, images out. */
import type * as Ort from "onnxruntime-web/wasm";

export type OrtModule = typeof Ort;

export interface Decoded {
  mean: Float32Array; // (B, C, H, W)
  std: Float32Array | null; // Gaussian decoders only
}

/** Import the served onnxruntime-web (``<base>ort.wasm.min.mjs``) and point it at its own wasm files. */
export async function loadOrt(base: string): Promise<OrtModule> {
  const ort: OrtModule = await import(/* @vite-ignore */ `${base}ort.wasm.min.mjs`);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = base;
  return ort;
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
