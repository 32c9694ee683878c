// Builds src/live.ts into ../static/live/live.js (and map.ts, direction.ts, loader.ts beside it; served by Streamlit at
// /app/static/live/) and copies the WebAssembly build of onnxruntime-web beside it: the page loads nothing from
// a CDN. Another element is one more line in ENTRIES (built to <name>.js).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { defineConfig } from "vitest/config";

const OUT = resolve(__dirname, "../static/live");
const ENTRIES: Record<string, string> = {
  live: resolve(__dirname, "src/live.ts"),
  map: resolve(__dirname, "src/map.ts"),
  direction: resolve(__dirname, "src/direction.ts"),
  loader: resolve(__dirname, "src/loader.ts"), // the components-v2 js of every element (ui/element.py reads it)
};
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
// Streamlit gzips /app/static/ files again on every request (level 5, 14 MB of wasm): a gzip copy made once here
// is served as it is (application/gzip) and inflated by the browser (src/decoder.ts fetchBytes).
const GZIP_FILES = ["ort-wasm-simd-threaded.wasm"];

export default defineConfig({
  build: {
    outDir: OUT,
    emptyOutDir: true,
    lib: { entry: ENTRIES, formats: ["es"], fileName: (_format, name) => `${name}.js` },
  },
  plugins: [
    {
      name: "copy-ort-wasm",
      writeBundle() {
        const dist = resolve(__dirname, "node_modules/onnxruntime-web/dist");
        mkdirSync(resolve(OUT, "ort"), { recursive: true });
        for (const f of ORT_FILES) copyFileSync(resolve(dist, f), resolve(OUT, "ort", f));
        for (const f of GZIP_FILES) writeFileSync(resolve(OUT, "ort", f + ".gz"), gzipSync(readFileSync(resolve(dist, f)), { level: 9 }));
        writeFileSync(resolve(OUT, ".built"), new Date().toISOString() + "\n");
      },
    },
  ],
  test: { include: ["src/**/*.test.ts"], testTimeout: 60_000 },
});
