/** Which location a click on the live map pins: the one the hover card shows, where the pointer last moved. */

/** A hovered location and the pointer position it was found at (CSS pixels, sub-pixel on a HiDPI screen). */
export interface Hovered<T> {
  clientX: number;
  clientY: number;
  at: T;
}

/**
 * The hovered location a click at ``e`` pins, or null when the click is elsewhere (then it is located anew).
 * Pointer events carry sub-pixel positions but Chromium rounds a click's to whole pixels: locating the click again
 * could name a neighbour of the sample on the card.
 */
export function pinned<T>(hovered: Hovered<T> | null, e: { clientX: number; clientY: number }): T | null {
  if (!hovered) return null;
  return Math.abs(hovered.clientX - e.clientX) <= 1 && Math.abs(hovered.clientY - e.clientY) <= 1 ? hovered.at : null;
}
