/**
 * The components-v2 loader every live element shares (ui/element.py reads this build's text as the component's
 * js): it unpacks what Python sent, asks the browser for the files the element needs at once, and imports the
 * element's module by absolute URL (a components-v2 module has no base URL). It imports nothing itself: built
 * alone, it stays one file.
 */

/** What Python sends (ui.element.packed): one JSON string, as Streamlit scans a list or dict value for a
 * dataframe (importing pandas on the first page's path) but passes a string as it is. */
export interface Packed {
  json: string;
}

/** The JSON inside ``Packed``: the element's module, files to fetch meanwhile, and its data (null: a preload). */
export interface Envelope {
  module: string; // absolute path of the element's module, with its build stamp
  preload: string[]; // absolute paths: .mjs as module preloads, anything else fetched
  data: unknown;
}

interface Component {
  data: Packed;
  parentElement: HTMLElement | ShadowRoot;
  setTriggerValue: (name: string, value: unknown) => void;
  setStateValue: (name: string, value: unknown) => void;
}

/** onnxruntime-web cannot run: Python draws the server path, and this element goes away. Said again each second
 * until then: a value sent while the page's script runs can be dropped (streamlit/streamlit#16732). */
function noWasm(c: Component): () => void {
  let n = 0;
  const say = () => c.setTriggerValue("fallback", "no WebAssembly " + ++n);
  say();
  const timer = setInterval(say, 1000);
  return () => clearInterval(timer);
}

function preload(paths: string[]): void {
  for (const path of paths) {
    const href = new URL(path, window.location.origin).href;
    if (Array.from(document.head.querySelectorAll("link")).some((l) => l.href === href)) continue;
    const link = Object.assign(document.createElement("link"), { href });
    if (path.endsWith(".mjs")) link.rel = "modulepreload";
    else Object.assign(link, { rel: "preload", as: "fetch", crossOrigin: "anonymous" });
    document.head.append(link);
  }
}

export default function load(component: Component): () => void {
  const { module, preload: files, data } = JSON.parse(component.data.json) as Envelope;
  const url = new URL(module, window.location.origin).href;
  if (data === null) {
    // a hidden preload element: start loading the page's module (and onnxruntime-web), and fetching the files it
    // names (the decoder), during the server's run
    if (typeof WebAssembly !== "undefined") {
      preload(files);
      import(/* @vite-ignore */ url).catch(() => {});
    }
    return () => {};
  }
  if (typeof WebAssembly === "undefined") return noWasm(component);
  preload(files);
  const args = {
    data,
    parentElement: component.parentElement,
    setTriggerValue: (name: string, value: unknown) => component.setTriggerValue(name, value),
    setStateValue: (name: string, value: unknown) => component.setStateValue(name, value),
  };
  let cleanup: (() => void) | null = null;
  let gone = false;
  import(/* @vite-ignore */ url).then((m) => {
    if (!gone) cleanup = m.default(args);
  });
  return () => {
    gone = true;
    if (cleanup) cleanup();
  };
}
