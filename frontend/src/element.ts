/** What an element's module is handed on mount and on every rerun: the loader (loader.ts) parses the
 * data Python sent as one JSON string and passes Streamlit's two ways back. */
export interface ElementArgs<Data> {
  data: Data;
  parentElement: HTMLElement | ShadowRoot;
  setTriggerValue: (name: string, value: unknown) => void; // one-time events: a click, a release
  setStateValue: (name: string, value: unknown) => void; // values that persist across reruns
}

/** An element instance per parent node (a components-v2 mount target) and its view. */
export interface Mounted<Data> {
  readonly root: HTMLElement;
  update(args: ElementArgs<Data>): void;
}

/** The components-v2 entry of an element: on mount and on every rerun, the parent's one instance (made by
 * ``make`` the first time) takes the new data; returns the unmount cleanup. */
export function mounter<Data>(make: (parent: HTMLElement | ShadowRoot) => Mounted<Data>, onMount?: () => void) {
  const instances = new WeakMap<object, Mounted<Data>>();
  return (args: ElementArgs<Data>): (() => void) => {
    onMount?.();
    let el = instances.get(args.parentElement);
    if (!el) {
      el = make(args.parentElement);
      instances.set(args.parentElement, el);
    }
    el.update(args);
    return () => {
      instances.delete(args.parentElement);
      el.root.remove();
    };
  };
}
