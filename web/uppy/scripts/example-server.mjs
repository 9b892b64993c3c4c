// Bundles the example page (web/uppy/example: an Uppy Dashboard with the JettySpeed plugin, the
// plugin and the SDK from their sources) with esbuild and serves it, with the SDK's hashing
// worker at /hash-worker.js. The coordinator must allow the page's origin: its default
// ALLOWED_ORIGINS (`local`) allows http://localhost and 127.0.0.1 on any port.
//
//   node web/uppy/scripts/example-server.mjs [--port 8798] [COORDINATOR_URL]
//
// prints the page's address with the coordinator (default: the local fleet's) and, for a local
// fleet (.jetty/fleet.json, .jetty/test/fleet.json), its dev key in the fragment.
// tests/uppy_page.mjs imports `serveExample` to serve the page on a port of its own.
import { build } from "esbuild";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const root = path.resolve(pkg, "../..");

/** The page's files, by path: `/` (index.html), `/app.js`, `/app.css`, `/hash-worker.js`. */
export async function bundleExample() {
  const common = {
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    minify: true,
    write: false,
    logLevel: "warning",
    absWorkingDir: root,
    define: { "process.env.NODE_ENV": '"production"' },
  };
  const app = await build({
    ...common,
    entryPoints: [path.join(pkg, "example/app.js")],
    outdir: "/out",
    alias: { "@jettyspeed/uppy": path.join(pkg, "src/index.ts"), "@jettyspeed/sdk": path.join(root, "web/sdk/src/index.ts") },
  });
  const worker = await build({ ...common, entryPoints: [path.join(root, "web/sdk/src/hash-worker.ts")], outfile: "/out/hash-worker.js" });
  const files = new Map([["/", { type: "text/html; charset=utf-8", body: fs.readFileSync(path.join(pkg, "example/index.html")) }]]);
  for (const f of [...app.outputFiles, ...worker.outputFiles]) {
    const name = `/${path.basename(f.path)}`;
    files.set(name, { type: name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8", body: Buffer.from(f.contents) });
  }
  return files;
}

/** Serves the bundled page on 127.0.0.1:`port` (0: any free port); `{ server, port }`. */
export async function serveExample({ port = 0 } = {}) {
  const files = await bundleExample();
  const server = http.createServer((req, res) => {
    const file = files.get(new URL(req.url ?? "/", "http://x").pathname);
    if (!file || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : file.body);
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return { server, port: server.address().port };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  const port = i >= 0 ? Number(args.splice(i, 2)[1]) : 8798;
  // The local fleets (scripts/fleet.sh's and scripts/test.sh's) say where they are and their key.
  const fleets = [".jetty/fleet.json", ".jetty/test/fleet.json"]
    .map((f) => path.join(root, f))
    .filter((f) => fs.existsSync(f))
    .map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  const coordinator = args[0] ?? fleets[0]?.coordinator ?? "http://127.0.0.1:8787";
  const key = fleets.find((f) => f.coordinator === coordinator.replace(/\/+$/, ""))?.apiKey;
  const { port: bound } = await serveExample({ port });
  const fragment = new URLSearchParams({ coordinator, ...(key ? { key } : {}) });
  console.log(`the example: http://localhost:${bound}/#${fragment}`);
}
