// Serves the upload page (workers/coordinator/upload/) the way the coordinator does — the page
// with {{VERSION}} filled in, app.js bundled with the SDK into one IIFE, the hash worker, and the
// page's Content-Security-Policy — and passes every other request to a coordinator, so the page
// can be developed and driven against a running fleet without rebuilding the worker.
//
//   node web/sdk/scripts/page-dev-server.mjs COORDINATOR_URL [--port 8799] [--connect ORIGIN...]
//
// The page is then at http://127.0.0.1:PORT/upload. `--connect` adds origins (the edges) to
// the CSP's connect-src; by default the edges of .jetty/test/fleet.json are used if present.
import { build } from "esbuild";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const args = process.argv.slice(2);
const take = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return [];
  const out = [];
  args.splice(i, 1);
  while (i < args.length && !args[i].startsWith("--")) out.push(args.splice(i, 1)[0]);
  return out;
};
const port = Number(take("--port")[0] ?? 8799);
let connect = take("--connect");
const upstream = new URL(args[0] ?? "http://127.0.0.1:8790");
if (connect.length === 0) {
  try {
    const fleet = JSON.parse(fs.readFileSync(path.join(root, ".jetty/test/fleet.json"), "utf8"));
    connect = fleet.edges.map((e) => new URL(e.url).origin).concat(new URL(fleet.coordinator).origin);
  } catch {
    connect = [];
  }
}

const dir = path.join(root, "workers/coordinator/upload");
async function bundle(entry) {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    write: false,
    logLevel: "warning",
    absWorkingDir: root,
  });
  return r.outputFiles[0].text;
}
const [appJs, workerJs] = await Promise.all([bundle(path.join(dir, "app.js")), bundle(path.join(root, "web/sdk/src/hash-worker.ts"))]);
const css = fs.readFileSync(path.join(dir, "app.css"), "utf8");
const version = crypto.createHash("sha256").update(appJs).update(css).update(workerJs).digest("hex").slice(0, 16);
const html = fs.readFileSync(path.join(dir, "index.html"), "utf8").replaceAll("{{VERSION}}", version);
const csp = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  `connect-src 'self' ${connect.join(" ")}`.trim(),
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
const assets = {
  "/upload": [html, "text/html; charset=utf-8"],
  "/upload/": [html, "text/html; charset=utf-8"],
  "/upload/app.js": [appJs, "text/javascript; charset=utf-8"],
  "/upload/app.css": [css, "text/css; charset=utf-8"],
  "/upload/hash-worker.js": [workerJs, "text/javascript; charset=utf-8"],
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const asset = assets[url.pathname];
  if (asset && (req.method === "GET" || req.method === "HEAD")) {
    res.writeHead(200, {
      "content-type": asset[1],
      "content-security-policy": csp,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
    return res.end(req.method === "HEAD" ? undefined : asset[0]);
  }
  // Everything else goes to the coordinator, Host kept, so the URLs it hands out for itself
  // (origin-direct, file URLs) point back here.
  const up = http.request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on("error", (e) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "dev_proxy", message: String(e.message) } }));
  });
  req.pipe(up);
});
server.listen(port, "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}/upload`, version, upstream: upstream.origin, connect }));
});
