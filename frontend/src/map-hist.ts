/** The selection's class histogram, drawn inside the map element the moment a box or lasso ends (Python's panel
 * follows with the mean image). Its counts are ui.panels.class_counts' twin: tests/test_map_live.py checks both. */

/** How many of the ``picked`` points fall in each of ``k`` classes (``labels`` holds each point's class). */
export function classCounts(labels: ArrayLike<number>, picked: ArrayLike<number>, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < picked.length; i++) {
    const c = labels[picked[i]];
    if (c >= 0 && c < k) counts[c]++;
  }
  return counts;
}

/** The histogram as HTML, laid out like ui.figures.bar_html: a bar per class, its count above, its name below. */
export function histogram(counts: number[], names: string[], colours: string[], total: number): HTMLElement {
  const box = document.createElement("div");
  box.className = "le-hist-live";
  box.dataset.testid = "le-map-hist";
  const title = document.createElement("div");
  title.className = "le-hist-title";
  title.textContent = `${total.toLocaleString("en-US")} selected`;
  const bars = document.createElement("div");
  bars.className = "le-hist-bars";
  const top = Math.max(...counts, 1);
  counts.forEach((c, i) => {
    const col = document.createElement("div");
    const n = document.createElement("span");
    n.textContent = String(c);
    const bar = document.createElement("div");
    bar.title = `${names[i] ?? i}: ${c}`;
    bar.style.cssText = `width:70%;height:${(60 * c) / top}px;background:${colours[i % colours.length] ?? "#888"}`;
    const name = document.createElement("span");
    name.textContent = names[i] ?? String(i);
    col.append(n, bar, name);
    bars.append(col);
  });
  box.append(title, bars);
  return box;
}
