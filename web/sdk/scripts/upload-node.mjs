// Uploads files with the SDK from Node (22+: fetch, Blob, File), as a live check against a
// running fleet without a browser. Hashing runs in-process; parts go with fetch.
//
//   node web/sdk/scripts/upload-node.mjs URL API_KEY FILE... [--concurrency N] [--stop-after PARTS]
//
// Prints one JSON line per file. `--stop-after` stops (keeping the session) once that many
// parts are recorded, to try resuming: run it again without the flag and it continues (the
// local record lives in memory only, so the session is found by hash, as on another device).
import fs from "node:fs";
import path from "node:path";
import { JettyClient, InProcessHasher } from "../dist/index.js";

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, v] = args.splice(i, 2);
  return v;
};
const concurrency = Number(flag("--concurrency") ?? 8);
const stopAfter = flag("--stop-after");
const [url, apiKey, ...files] = args;
if (!url || !apiKey || files.length === 0) {
  console.error("usage: node web/sdk/scripts/upload-node.mjs URL API_KEY FILE... [--concurrency N] [--stop-after PARTS]");
  process.exit(2);
}
const client = new JettyClient({ baseUrl: url, apiKey, hasher: new InProcessHasher() });
for (const p of files) {
  const blob = await fs.openAsBlob(p);
  const file = new File([blob], path.basename(p), { lastModified: fs.statSync(p).mtimeMs });
  const t0 = performance.now();
  let hashedAt = null;
  const up = client.upload(file, { concurrency });
  up.on("state", (s) => s === "starting" && (hashedAt = performance.now()));
  if (stopAfter) up.on("progress", (pr) => pr.partsDone >= Number(stopAfter) && up.abort({ keepSession: true }));
  try {
    const r = await up.result;
    const secs = (performance.now() - t0) / 1000;
    const hashSecs = ((hashedAt ?? t0) - t0) / 1000;
    console.log(JSON.stringify({ path: p, status: "ok", ...r, hashSeconds: hashSecs, hashMiBps: file.size / 1048576 / hashSecs, mibPerSec: r.bytesSent / 1048576 / Math.max(1e-9, secs - hashSecs) }));
  } catch (e) {
    console.log(JSON.stringify({ path: p, status: up.state, error: e?.toJSON?.() ?? String(e), progress: up.progress }));
    if (!stopAfter) process.exitCode = 1;
  }
}
