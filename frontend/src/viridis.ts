/** Viridis as Plotly draws it (the server's maps and ui.images.heat): 256 colours along Plotly's ten stops, each
 * channel rounded to a byte. The one table of the frontend; tests/test_live.py pins it to ui.images' table. */

const STOPS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

function build(): Uint8Array {
  const rgb = STOPS.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16) / 255));
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (STOPS.length - 1);
    const j = Math.min(Math.floor(t), STOPS.length - 2);
    const f = t - j;
    for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round((rgb[j][k] + f * (rgb[j + 1][k] - rgb[j][k])) * 255);
  }
  return out;
}

/** (256 * 3) bytes: entry i is the colour of i / 255 of the scale. */
export const VIRIDIS: Uint8Array = build();

/** The entry of a value in [0, vmax], as ui.images.heat picks it: clamp(v / vmax * 255), truncated. */
export function viridisIndex(v: number, vmax: number): number {
  const t = (v / Math.max(vmax, 1e-8)) * 255;
  return t < 0 ? 0 : t > 255 ? 255 : Math.floor(t);
}

/** ``n`` colours along Viridis, as hex strings (regl-scatterplot maps a value in [0, 1] onto the list). */
export function viridisHex(n = 64): string[] {
  return Array.from({ length: n }, (_, i) => {
    const j = Math.round((i / (n - 1)) * 255) * 3;
    return "#" + [0, 1, 2].map((k) => VIRIDIS[j + k].toString(16).padStart(2, "0")).join("");
  });
}
