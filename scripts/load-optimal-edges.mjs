// Latency of POST /api/jetty/optimal-edges under load: ROUNDS rounds of CONCURRENCY requests
// in flight at once. Prints p50/p99/max in ms. Usage: node load-optimal-edges.mjs URL KEY
const [url, key] = process.argv.slice(2);
const concurrency = Number(process.env.CONCURRENCY ?? 100);
const rounds = Number(process.env.ROUNDS ?? 10);
const body = () =>
  JSON.stringify({
    fileSize: 1_000_000, // small: every request reserves quota for its session
    fileHash: [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join(""),
    userLocation: { lat: 37.77, lng: -122.42 },
  });
const times = [];
let failures = 0;
for (let r = 0; r < rounds; r++) {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const t0 = performance.now();
      const resp = await fetch(`${url}/api/jetty/optimal-edges`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: body(),
      });
      await resp.arrayBuffer();
      if (resp.status !== 200) failures++;
      times.push(performance.now() - t0);
    }),
  );
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1);
console.log(`optimal-edges: ${times.length} requests, ${concurrency} in flight: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms, failures ${failures}`);
