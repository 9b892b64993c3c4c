import { test } from "node:test";
import assert from "node:assert/strict";
import { etaSeconds, formatBytes, formatDuration, RateWindow } from "../src/progress.js";

test("speed is the bytes over the moving window", () => {
  const w = new RateWindow(5000, 300);
  assert.equal(w.rate(0), null, "no samples");
  w.add(0, 0);
  assert.equal(w.rate(100), null, "too short a span to say");
  // 1 MB/s for 10 s.
  for (let t = 0; t <= 10_000; t += 250) w.add(t, t * 1000);
  assert.equal(Math.round(w.rate(10_000) as number), 1_000_000);
  // Then 3 MB/s: after a whole window only the new speed counts.
  for (let t = 10_250; t <= 20_000; t += 250) w.add(t, 10_000_000 + (t - 10_000) * 3000);
  assert.equal(Math.round(w.rate(20_000) as number), 3_000_000);
  // Halfway through the change, the window mixes both.
  const m = new RateWindow(4000, 300);
  for (let t = 0; t <= 4000; t += 500) m.add(t, t * 1000);
  for (let t = 4500; t <= 6000; t += 500) m.add(t, 4_000_000 + (t - 4000) * 3000);
  assert.equal(Math.round(m.rate(6000) as number), (2_000_000 + 6_000_000) / 4);
});

test("a stall makes the speed fall, to zero after a whole window", () => {
  const w = new RateWindow(5000, 300);
  for (let t = 0; t <= 5000; t += 500) w.add(t, t * 2000);
  assert.equal(Math.round(w.rate(5000) as number), 2_000_000);
  assert.ok((w.rate(7500) as number) < 1_100_000 && (w.rate(7500) as number) > 900_000);
  assert.equal(w.rate(10_000), 0);
  // Samples with the same time merge (the larger count wins).
  const z = new RateWindow(1000, 0);
  z.add(0, 0);
  z.add(500, 10);
  z.add(500, 20);
  assert.equal(z.rate(1000), 20);
});

test("ETA is what is left at the current speed", () => {
  assert.equal(etaSeconds(10_000_000, 2_000_000), 5);
  assert.equal(etaSeconds(0, null), 0);
  assert.equal(etaSeconds(-5, 1), 0);
  assert.equal(etaSeconds(100, null), null);
  assert.equal(etaSeconds(100, 0), null);
});

test("figures read like the dashboard's", () => {
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1_500_000), "1.5 MB");
  assert.equal(formatBytes(NaN), "–");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatDuration(4.2), "5 s");
  assert.equal(formatDuration(185), "3 min 5 s");
  assert.equal(formatDuration(3720), "1 h 2 min");
});
