// Smooth weighted round-robin (shared/src/edges.rs `assign_weighted`): `count` slots over the
// edges in proportion to their weights, interleaved so every edge starts busy.

export function assignWeighted(weights: readonly number[], count: number): number[] {
  if (weights.length === 0) return [];
  let w = weights.map((x) => (Number.isFinite(x) && x > 0 ? x : 0));
  if (!(w.reduce((a, b) => a + b, 0) > 0)) w = weights.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  const current = w.map(() => 0);
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    for (let i = 0; i < w.length; i++) current[i] += w[i];
    let best = 0;
    for (let i = 1; i < w.length; i++) if (current[i] > current[best]) best = i;
    current[best] -= total;
    out.push(best);
  }
  return out;
}
