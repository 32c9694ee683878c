/** What an element's module is handed on mount and on every rerun: the loader (loader.ts) parses the
 * data Python sent as one JSON string and passes Streamlit's two ways back. */
export interface ElementArgs<Data> {
  data: Data;
  parentElement: HTMLElement | ShadowRoot;
  setTriggerValue: (name: string, value: unknown) => void; // one-time events: a click, a release
  setStateValue: (name: string, value: unknown) => void; // values that persist across reruns
}
