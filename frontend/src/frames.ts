/**
 * One piece of async work per animation frame for the live elements: any number of requests (inputs while
 * dragging) before a frame make one run, and requests during a run make one more run after it.
 */
export class FrameLoop {
  private busy = false; // a run is going on
  private frame = 0; // a requested animation frame
  private dirty = false; // requested since the last run started
  private firstT: number | null = null; // time of the first request not yet run

  /** ``run`` is handed the time of the first request it answers (for the lag from input to image). */
  constructor(private readonly run: (t: number) => Promise<void>) {}

  request(t: number): void {
    this.firstT ??= t;
    this.dirty = true;
    if (!this.frame && !this.busy) this.frame = requestAnimationFrame(() => void this.tick());
  }

  private async tick(): Promise<void> {
    this.frame = 0;
    if (this.busy || !this.dirty) return;
    this.busy = true;
    this.dirty = false;
    const t = this.firstT ?? performance.now();
    this.firstT = null;
    try {
      await this.run(t);
    } finally {
      this.busy = false;
      if (this.dirty && !this.frame) this.frame = requestAnimationFrame(() => void this.tick());
    }
  }
}
