/** Point colours and the legend of the map element: the groups' colours come from Python (ui.figures.palette),
 * values are drawn with Viridis like the Plotly map (viridis.ts). */

import { viridisHex } from "./viridis";

export type Colour =
  | { kind: "category"; url: string; title: string; names: string[]; colours: string[] }
  | { kind: "value"; url: string; title: string; lo: number; hi: number };

/** The legend as HTML: one swatch per group, or a colour bar with its two ends. */
export function legend(c: Colour): HTMLElement {
  const box = document.createElement("div");
  box.className = "le-legend";
  box.dataset.testid = "le-map-legend";
  const title = document.createElement("div");
  title.className = "le-legend-title";
  title.textContent = c.title;
  box.append(title);
  if (c.kind === "category") {
    c.names.forEach((name, i) => {
      const row = document.createElement("div");
      row.className = "le-legend-row";
      const sw = document.createElement("span");
      sw.className = "le-swatch";
      sw.style.background = c.colours[i % c.colours.length];
      const label = document.createElement("span");
      label.textContent = name;
      row.append(sw, label);
      box.append(row);
    });
  } else {
    const bar = document.createElement("div");
    bar.className = "le-colourbar";
    bar.style.background = `linear-gradient(to top, ${viridisHex(9).join(",")})`;
    const ends = document.createElement("div");
    ends.className = "le-colourbar-ends";
    const hi = document.createElement("span");
    hi.textContent = c.hi.toPrecision(4);
    const lo = document.createElement("span");
    lo.textContent = c.lo.toPrecision(4);
    ends.append(hi, lo);
    const row = document.createElement("div");
    row.className = "le-legend-row";
    row.append(bar, ends);
    box.append(row);
  }
  return box;
}
