import { describe, expect, it } from "vitest";
import { pinned } from "./map-pick";

describe("pinned", () => {
  const hovered = { clientX: 100.5, clientY: 40.5, at: { index: 7 } };

  it("takes what the card shows for a click rounded to whole pixels", () => {
    expect(pinned(hovered, { clientX: 100, clientY: 40 })).toEqual({ index: 7 });
    expect(pinned(hovered, { clientX: 101, clientY: 41 })).toEqual({ index: 7 });
  });

  it("locates a click elsewhere, or with nothing hovered, anew", () => {
    expect(pinned(hovered, { clientX: 102, clientY: 40 })).toBeNull();
    expect(pinned(null, { clientX: 100, clientY: 40 })).toBeNull();
  });
});
