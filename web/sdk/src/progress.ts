// Speed over a moving window and the time left, from a cumulative byte counter.

export class RateWindow {
  private samples: Array<{ t: number; bytes: number }> = [];

  /** `windowMs`: how far back the speed looks; `minSpanMs`: shortest span that gives a figure. */
  constructor(
    readonly windowMs = 5000,
    readonly minSpanMs = 300,
  ) {}

  /** The counter read `bytes` at `now` (ms). */
  add(now: number, bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && now <= last.t) {
      last.bytes = Math.max(last.bytes, bytes);
    } else {
      this.samples.push({ t: now, bytes });
    }
    // Keep one sample at or before the window's start, so the span always covers the window.
    while (this.samples.length > 2 && this.samples[1].t <= now - this.windowMs) this.samples.shift();
  }

  /** Bytes per second over the window ending at `now` (falls as a stall goes on), or `null`
   * before the span is long enough to say. */
  rate(now: number): number | null {
    if (this.samples.length === 0) return null;
    const last = this.samples[this.samples.length - 1];
    let first = this.samples[0];
    const start = now - this.windowMs;
    if (first.t < start) {
      // The counter at the window's start: interpolated between the samples around it (or the
      // last one, when nothing came in for a whole window).
      let j = 0;
      while (j + 1 < this.samples.length && this.samples[j + 1].t <= start) j += 1;
      const a = this.samples[j];
      const b = this.samples[j + 1];
      const bytes = b ? a.bytes + ((b.bytes - a.bytes) * (start - a.t)) / (b.t - a.t) : a.bytes;
      first = { t: start, bytes };
    }
    const span = now - first.t;
    if (span < this.minSpanMs) return null;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / span);
  }

  reset(): void {
    this.samples = [];
  }
}

/** Seconds until `remaining` bytes are through at `bytesPerSec`; `null` when the speed is
 * unknown or zero, 0 when nothing remains. */
export function etaSeconds(remaining: number, bytesPerSec: number | null): number | null {
  if (remaining <= 0) return 0;
  if (bytesPerSec === null || !(bytesPerSec > 0)) return null;
  return remaining / bytesPerSec;
}

/** A stable human form of a byte count (decimal units, like the dashboard). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** "42 s", "3 min 5 s", "1 h 2 min"; "–" when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
