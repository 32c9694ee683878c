// Builds src/live.ts into ../static/live/live.js (served by Streamlit at /app/static/live/) and copies the
// WebAssembly build of onnxruntime-web beside it: the page loads nothing from a CDN.
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";

const OUT = resolve(__dirname, "../static/live");
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

export default defineConfig({
  build: {
    outDir: OUT,
    emptyOutDir: true,
    lib: { entry: resolve(__dirname, "src/live.ts"), formats: ["es"], fileName: () => "live.js" },
  },
  plugins: [
    {
      name: "copy-ort-wasm",
      writeBundle() {
        mkdirSync(resolve(OUT, "ort"), { recursive: true });
        for (const f of ORT_FILES) {
          copyFileSync(resolve(__dirname, "node_modules/onnxruntime-web/dist", f), resolve(OUT, "ort", f));
        }
        writeFileSync(resolve(OUT, ".built"), new Date().toISOString() + "\n");
      },
    },
  ],
  test: { include: ["src/**/*.test.ts"], testTimeout: 60_000 },
});
