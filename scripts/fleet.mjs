// Runs the local JettySpeed fleet on workerd (via Miniflare): the coordinator with local D1
// and KV, and one edge per wrangler environment in workers/edge/wrangler.toml, each on its own
// loopback port, the edges bound to the coordinator by a real service binding.
// Applies migrations/ to D1, creates the development account and API key (stored hashed),
// registers the edges, writes $JETTY_STATE/fleet.json, and runs until SIGINT/SIGTERM.
import { Miniflare } from "miniflare";
import { parse as parseToml } from "smol-toml";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { Transform } from "node:stream";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const state = process.env.JETTY_STATE ?? path.join(root, ".jetty");
const coordinatorPort = Number(process.env.COORDINATOR_PORT ?? 8787);
const controlPort = Number(process.env.CONTROL_PORT ?? coordinatorPort + 1000);
const edgePortOffset = Number(process.env.EDGE_PORT_OFFSET ?? 0);
const s3Endpoint = process.env.S3_ENDPOINT_OVERRIDE;
// JETTY_BIND_HOST: the address the coordinator's and the edges' ports listen on (default
// 127.0.0.1; the WAN bench runs the fleet in a network namespace and binds its address there).
// JETTY_PUBLIC_HOST: the host in the URLs the fleet registers and prints (default: the bind host).
const bindHost = process.env.JETTY_BIND_HOST || "127.0.0.1";
const publicHost = process.env.JETTY_PUBLIC_HOST || bindHost;
// JETTY_VAR_OVERRIDES="VERIFY_MODE=worker,S3_CHECKSUMS=false": replaces those vars in every
// worker that defines them (used by the bench to compare settings on the same fleet).
const varOverrides = Object.fromEntries(
  (process.env.JETTY_VAR_OVERRIDES ?? "").split(",").filter(Boolean).map((kv) => kv.split("=", 2)),
);

function readDevVars(file) {
  const vars = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)=(.*)$/);
    if (m) vars[m[1]] = m[2];
  }
  return vars;
}

const secrets = readDevVars(path.join(state, "dev.env"));
const workerSecrets = {
  TOKEN_SECRET: secrets.TOKEN_SECRET,
  INTERNAL_WEBHOOK_SECRET: secrets.INTERNAL_WEBHOOK_SECRET,
  // Current secret first, then the one being rotated out: both verify, the first signs.
  VENDOR_WEBHOOK_SECRET: `${secrets.VENDOR_WEBHOOK_SECRET} ${secrets.VENDOR_WEBHOOK_SECRET_PREVIOUS ?? ""}`.trim(),
  INTERNAL_SECRET: secrets.INTERNAL_SECRET,
  S3_ACCESS_KEY_ID: secrets.S3_ACCESS_KEY_ID,
  S3_SECRET_ACCESS_KEY: secrets.S3_SECRET_ACCESS_KEY,
};

const coordinatorToml = parseToml(fs.readFileSync(path.join(root, "wrangler.toml"), "utf8"));
const edgeDir = path.join(root, "workers/edge");
const edgeToml = parseToml(fs.readFileSync(path.join(edgeDir, "wrangler.toml"), "utf8"));

const wasmRules = [
  { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];

// JETTY_FAULT_PROXY=1 also puts the S3 server behind a fault proxy (the workers' S3_ENDPOINT; the
// tests' own S3 client keeps the direct address), switchable by the control port.
const storeFaults = process.env.JETTY_FAULT_PROXY === "1";
const directS3 = s3Endpoint ?? coordinatorToml.vars.S3_ENDPOINT;
const storeProxyPort = Number(new URL(directS3).port) + 20;
const workersS3 = storeFaults ? `http://127.0.0.1:${storeProxyPort}` : s3Endpoint;
function overrides(vars) {
  const out = { ...vars };
  if (workersS3) out.S3_ENDPOINT = workersS3;
  for (const [k, v] of Object.entries(varOverrides)) if (k in out) out[k] = v;
  return out;
}

const coordinatorMain = path.join(root, coordinatorToml.main);
const coordinator = {
  name: coordinatorToml.name,
  modules: true,
  scriptPath: coordinatorMain,
  modulesRoot: path.dirname(coordinatorMain),
  modulesRules: wasmRules,
  compatibilityDate: coordinatorToml.compatibility_date,
  bindings: {
    ...overrides(coordinatorToml.vars),
    PUBLIC_URL: `http://${publicHost}:${coordinatorPort}`,
    // The local coordinator is also the storage vendor the platform side provisions with.
    VENDOR_API_URL: `http://127.0.0.1:${coordinatorPort}/api/agentcache`,
    ...workerSecrets,
    // Operators' admin key, stored as its SHA-256 only.
    ADMIN_KEY_SHA256: createHash("sha256").update(secrets.ADMIN_API_KEY ?? "").digest("hex"),
    // JETTY_STORE_DIRECT=1: the store-direct route is offered, at the store's address as the
    // workers reach it (behind the fault proxy when there is one), which clients reach too.
    ...(process.env.JETTY_STORE_DIRECT === "1" ? { STORE_DIRECT_ENDPOINT: workersS3 ?? directS3 } : {}),
  },
  d1Databases: Object.fromEntries(coordinatorToml.d1_databases.map((d) => [d.binding, d.database_id])),
  kvNamespaces: Object.fromEntries((coordinatorToml.kv_namespaces ?? []).map((k) => [k.binding, k.id])),
  unsafeDirectSockets: [{ host: bindHost, port: coordinatorPort }],
};

const edgeMain = path.join(edgeDir, edgeToml.main);
// JETTY_FAULT_PROXY=1: each edge's public port is a TCP proxy in this process, which the control
// port can take down and up again (an edge failing as clients see it). Off by default: the
// proxy costs CPU the benchmarks should not pay.
// JETTY_SHAPE_MBPS / JETTY_SHAPE_DELAY_MS: the proxies also cap each path's bandwidth (per
// direction) and add a fixed one-way delay, to model edges as separate network paths; with
// JETTY_ORIGIN_PROXY_PORT a path shaped the same way leads straight to the S3 server (the
// single-path baseline of the simulation in scripts/bench-edges.sh).
const shapeMbps = Number(process.env.JETTY_SHAPE_MBPS ?? 0);
const shapeDelayMs = Number(process.env.JETTY_SHAPE_DELAY_MS ?? 0);
const faultProxy = process.env.JETTY_FAULT_PROXY === "1" || shapeMbps > 0;
const edges = Object.entries(edgeToml.env ?? {}).map(([envName, env]) => {
  const port = Number(env.vars.LOCAL_PORT) + edgePortOffset;
  const socketPort = faultProxy ? port + 10000 : port;
  return {
    envName,
    id: env.vars.EDGE_ID,
    city: env.vars.EDGE_CITY,
    lat: Number(env.vars.EDGE_LAT),
    lng: Number(env.vars.EDGE_LNG),
    url: `http://${publicHost}:${port}`,
    worker: {
      name: env.name,
      modules: true,
      scriptPath: edgeMain,
      modulesRoot: path.dirname(edgeMain),
      modulesRules: wasmRules,
      compatibilityDate: edgeToml.compatibility_date,
      bindings: { ...overrides(env.vars), ...workerSecrets },
      serviceBindings: Object.fromEntries((env.services ?? []).map((s) => [s.binding, s.service])),
      kvNamespaces: Object.fromEntries((env.kv_namespaces ?? []).map((k) => [k.binding, k.id])),
      // Behind a proxy (which listens on the bind host), workerd's own socket stays on loopback.
      unsafeDirectSockets: [{ host: faultProxy ? "127.0.0.1" : bindHost, port: socketPort }],
    },
    port,
    socketPort,
  };
});

const mf = new Miniflare({
  workers: [coordinator, ...edges.map((e) => e.worker)],
  d1Persist: path.join(state, "d1"),
  kvPersist: path.join(state, "kv"),
  host: "127.0.0.1",
  port: 0,
});
await mf.ready;

// --- D1 migrations (same bookkeeping table as `wrangler d1 migrations apply`) ---
// Statements split on `;`, except inside a trigger body (CREATE TRIGGER … BEGIN …; END).
function sqlStatements(sql) {
  const statements = [];
  let current = "";
  for (const piece of sql.split(";")) {
    current += piece;
    const statement = current.trim();
    if (/^CREATE\s+TRIGGER\b/i.test(statement) && !/\bEND$/i.test(statement)) {
      current += ";";
      continue;
    }
    if (statement) statements.push(statement);
    current = "";
  }
  return statements;
}

const db = await mf.getD1Database("DB", coordinator.name);
await db.prepare(
  "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
).run();
const applied = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((r) => r.name));
const migrationsDir = path.join(root, coordinatorToml.d1_databases[0].migrations_dir ?? "migrations");
for (const file of fs.readdirSync(migrationsDir).filter((f) => f.endsWith(".sql")).sort()) {
  if (applied.has(file)) continue;
  const sql = fs.readFileSync(path.join(migrationsDir, file), "utf8").replace(/--.*$/gm, "");
  const statements = sqlStatements(sql).map((s) => db.prepare(s));
  statements.push(db.prepare("INSERT INTO d1_migrations (name) VALUES (?1)").bind(file));
  await db.batch(statements);
  console.log(`[fleet] applied migration ${file}`);
}

// --- Development accounts and API keys (only the hashes are stored). The second account
// exists so that tenant isolation can be exercised locally. ---
const now = Date.now();
const keyHash = (k) => createHash("sha256").update(k).digest("hex");
async function devKey(accountId, name, file, tier = "enterprise") {
  const keyFile = path.join(state, file);
  let key = fs.existsSync(keyFile) ? fs.readFileSync(keyFile, "utf8").trim() : "";
  if (!key || !(await db.prepare("SELECT 1 FROM api_keys WHERE key_hash = ?1").bind(keyHash(key)).first())) {
    key = "jsk_" + randomBytes(32).toString("base64url");
    await db.batch([
      db
        .prepare("INSERT OR IGNORE INTO accounts (id, name, tier, created_at, s3_prefix) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(accountId, name, tier, now, `accounts/${accountId}/`),
      db.prepare("INSERT INTO api_keys (key_hash, account_id, label, created_at) VALUES (?1, ?2, 'dev', ?3)").bind(keyHash(key), accountId, now),
    ]);
    fs.writeFileSync(keyFile, key + "\n", { mode: 0o600 });
  }
  return key;
}
// Development accounts get the largest tier, so a long-lived local fleet does not run out.
await db.prepare("UPDATE accounts SET tier = 'enterprise' WHERE id IN ('acc_dev', 'acc_other')").run();
const apiKey = await devKey("acc_dev", "Development", "dev-api-key");
const otherApiKey = await devKey("acc_other", "Another tenant", "other-api-key");
// JETTY_ORIGIN_ONLY_ACCOUNT=1: also an account on the `starter` tier, which has no JettySpeed:
// its uploads take the origin path only (the coordinator's chunk route), for the WAN bench.
const originOnlyApiKey =
  process.env.JETTY_ORIGIN_ONLY_ACCOUNT === "1" ? await devKey("acc_origin", "Origin path only", "origin-api-key", "starter") : undefined;

// --- Edge registry: the local fleet's edges replace whatever was registered before ---
await db.batch([
  db.prepare("UPDATE edge_locations SET is_active = 0"),
  ...edges.map((e) =>
    db
      .prepare(
        "INSERT INTO edge_locations (id, url, city, lat, lng, is_active, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6) " +
          "ON CONFLICT (id) DO UPDATE SET url = excluded.url, city = excluded.city, lat = excluded.lat, lng = excluded.lng, is_active = 1",
      )
      .bind(e.id, e.url, e.city, e.lat, e.lng, now),
  ),
]);

const fleet = {
  coordinator: `http://${publicHost}:${coordinatorPort}`,
  edges: edges.map((e) => ({ id: e.id, url: e.url })),
  apiKey,
  otherApiKey,
  ...(originOnlyApiKey ? { originOnlyApiKey } : {}),
  control: `http://127.0.0.1:${controlPort}`,
  s3: {
    endpoint: s3Endpoint ?? coordinatorToml.vars.S3_ENDPOINT,
    bucket: coordinatorToml.vars.S3_BUCKET,
    region: coordinatorToml.vars.S3_REGION,
    // Garage's Prometheus metrics (admin token in dev.env): what the store itself counted.
    metrics: `http://${new URL(s3Endpoint ?? coordinatorToml.vars.S3_ENDPOINT).hostname}:${process.env.GARAGE_ADMIN_PORT ?? 3903}/metrics`,
  },
  pid: process.pid,
};
fs.writeFileSync(path.join(state, "fleet.json"), JSON.stringify(fleet, null, 2), { mode: 0o600 });
console.log(`[fleet] coordinator ${fleet.coordinator}`);
for (const e of edges) console.log(`[fleet] edge ${e.id} (${e.envName}) ${e.url}`);
// Fault-injection (and shaping) proxies (see above).
// One token bucket per path and direction: every connection through a path shares its rate.
// The rate paces how fast bytes are accepted (so senders feel backpressure); the delay only
// shifts when each chunk comes out, so it adds latency without limiting throughput.
// `mbps`: this path's rate (an edge's `slow` fault), else the fleet's JETTY_SHAPE_MBPS.
function shaper(path, mbps = shapeMbps) {
  if (!(mbps > 0) && !(shapeDelayMs > 0)) return null;
  path.next ??= 0;
  const bytesPerMs = mbps > 0 ? (mbps * 1e6) / 8 / 1000 : Infinity;
  // Chunks leave strictly in arrival order: one queue, drained by one timer.
  const queue = [];
  let timer = null;
  let flushed = null;
  const drain = (stream) => {
    timer = null;
    const now = Date.now();
    while (queue.length && queue[0].at <= now) stream.push(queue.shift().chunk);
    if (queue.length) timer = setTimeout(() => drain(stream), Math.max(1, queue[0].at - now));
    else if (flushed) flushed();
  };
  return new Transform({
    transform(chunk, _enc, done) {
      const now = Date.now();
      path.next = Math.max(path.next, now) + chunk.length / bytesPerMs;
      queue.push({ chunk, at: path.next + shapeDelayMs });
      if (!timer) timer = setTimeout(() => drain(this), Math.max(1, queue[0].at - now));
      setTimeout(done, Math.max(0, path.next - now));
    },
    flush(done) {
      if (queue.length === 0) done();
      else flushed = done;
    },
  });
}
const proxies = new Map();
function relay(listenPort, targetPort, id) {
  const sockets = new Set();
  const up = {}, down = {};
  // Half-open connections pass through (a client may end its request and still read the answer).
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    if (proxies.get(id)?.stalled) return stall(proxies.get(id), client);
    if (proxies.get(id)?.limited) return tooManyRequests(proxies.get(id), client);
    const upstream = net.connect({ port: targetPort, host: "127.0.0.1", allowHalfOpen: true });
    sockets.add(client).add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    const slowMbps = proxies.get(id)?.slowMbps || shapeMbps;
    const toUpstream = shaper(up, slowMbps), toClient = shaper(down, slowMbps);
    if (toUpstream) client.pipe(toUpstream).pipe(upstream); else client.pipe(upstream);
    if (toClient) upstream.pipe(toClient).pipe(client); else upstream.pipe(client);
  });
  proxies.set(id, { server, sockets, stalled: false });
  return new Promise((resolve) => server.listen(listenPort, bindHost, resolve));
}
function proxyUp(edge) {
  const p = proxies.get(edge.id);
  if (p?.slowMbps) {
    // Connections opened while it was slow keep their pace: reset them, as a restarted edge would.
    p.slowMbps = 0;
    for (const s of p.sockets) s.destroy();
    p.sockets.clear();
  }
  if (p?.limited) {
    p.limited = false;
    for (const s of p.sockets) s.destroy();
    p.sockets.clear();
  }
  if (p?.stalled) {
    // Stalled connections never recover: reset them, as a restarted edge would.
    p.stalled = false;
    for (const s of p.sockets) s.destroy();
    p.sockets.clear();
  }
  if (p?.server.listening) return Promise.resolve();
  return relay(edge.port, edge.socketPort, edge.id);
}
// A stalled edge accepts connections and bytes, then never answers (a hung edge or store):
// connections stop being relayed in both directions and new ones are held open, unread.
function stall(p, socket) {
  p.sockets.add(socket);
  socket.on("error", () => {});
  socket.unpipe();
  socket.pause();
}
// A rate-limited edge (a rule in front of it, as Cloudflare's rate limiting would answer): every
// request is read to its end, then answered `429 Too Many Requests` with `Retry-After: 1`.
const TOO_MANY =
  "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 17\r\n\r\nToo Many Requests";
function tooManyRequests(p, socket) {
  p.sockets.add(socket);
  socket.on("error", () => {});
  socket.on("close", () => p.sockets.delete(socket));
  let head = Buffer.alloc(0);
  let bodyLeft = null;
  let answered = false;
  socket.on("data", (chunk) => {
    // Bytes after the answer (a chunked body, a client ignoring `connection: close`) are
    // drained unanswered: one answer per connection.
    if (answered) return;
    if (bodyLeft === null) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head.subarray(0, end).toString("latin1"));
      bodyLeft = Number(length?.[1] ?? 0) - (head.length - end - 4);
    } else {
      bodyLeft -= chunk.length;
    }
    if (bodyLeft > 0) return;
    answered = true;
    socket.end(TOO_MANY);
  });
}
function proxyLimit(edge) {
  const p = proxies.get(edge.id);
  if (!p) return Promise.resolve();
  p.limited = true;
  // Connections opened before the rule answer 429 too from their next request: reset them.
  for (const s of p.sockets) s.destroy();
  p.sockets.clear();
  return Promise.resolve();
}
// A slow edge: its new connections share `mbps` each way (a thin path, bytes still moving).
function proxySlow(edge, params) {
  const p = proxies.get(edge.id);
  if (p) p.slowMbps = Number(params.get("mbps") ?? 0);
  return Promise.resolve();
}
function proxyStall(edge) {
  const p = proxies.get(edge.id);
  if (!p) return Promise.resolve();
  p.stalled = true;
  for (const s of p.sockets) stall(p, s);
  return Promise.resolve();
}
if (process.env.JETTY_ORIGIN_PROXY_PORT) {
  const s3Port = Number(new URL(s3Endpoint ?? coordinatorToml.vars.S3_ENDPOINT).port);
  await relay(Number(process.env.JETTY_ORIGIN_PROXY_PORT), s3Port, "origin");
}
function proxyDown(edge) {
  const p = proxies.get(edge.id);
  if (!p) return Promise.resolve();
  for (const s of p.sockets) s.destroy();
  return new Promise((resolve) => p.server.close(() => resolve()));
}
if (faultProxy) for (const e of edges) await proxyUp(e);

// The store's fault proxy: `up` relays; `down` refuses connections; `stall` accepts and never
// answers; `reset?after=N` relays N request bytes per connection, then resets it; `503` answers
// every request with S3's 503 SlowDown; `slow?ms=N` delays every chunk by N ms each way.
const store = { mode: "up", after: 0, delayMs: 0, sockets: new Set(), server: null };
const SLOW_DOWN =
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/xml\r\nconnection: close\r\ncontent-length: 110\r\n\r\n" +
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>fault</Message></Error>".padEnd(110);
function delayed(ms) {
  return new Transform({
    transform(chunk, _enc, done) {
      setTimeout(() => done(null, chunk), ms);
    },
  });
}
function storeConnection(client) {
  store.sockets.add(client);
  client.on("error", () => {});
  client.on("close", () => store.sockets.delete(client));
  if (store.mode === "stall") return stall(store, client);
  if (store.mode === "503") {
    client.once("data", () => client.end(SLOW_DOWN));
    return;
  }
  const upstream = net.connect({ port: Number(new URL(directS3).port), host: "127.0.0.1", allowHalfOpen: true });
  store.sockets.add(upstream);
  const drop = () => { client.destroy(); upstream.destroy(); store.sockets.delete(client); store.sockets.delete(upstream); };
  client.on("close", drop);
  upstream.on("error", drop).on("close", drop);
  if (store.mode === "reset") {
    let seen = 0;
    client.on("data", (chunk) => {
      seen += chunk.length;
      if (seen > store.after) client.resetAndDestroy ? client.resetAndDestroy() : client.destroy();
    });
  }
  if (store.mode === "slow") {
    client.pipe(delayed(store.delayMs)).pipe(upstream);
    upstream.pipe(delayed(store.delayMs)).pipe(client);
  } else {
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
async function storeSwitch(mode, params) {
  for (const sock of store.sockets) sock.destroy();
  store.sockets.clear();
  store.mode = mode;
  store.after = Number(params.get("after") ?? 0);
  store.delayMs = Number(params.get("ms") ?? 200);
  if (mode === "down") {
    if (store.server?.listening) await new Promise((resolve) => store.server.close(() => resolve()));
    return;
  }
  if (!store.server?.listening) {
    store.server = net.createServer({ allowHalfOpen: true }, storeConnection);
    await new Promise((resolve) => store.server.listen(storeProxyPort, "127.0.0.1", resolve));
  }
}
if (storeFaults) await storeSwitch("up", new URLSearchParams());

// Cron: Miniflare does not run triggers, so the fleet fires the coordinator's scheduled handler
// like Cloudflare would (every minute by default; JETTY_CRON_SECONDS to change), and at start.
const crons = coordinatorToml.triggers?.crons ?? ["* * * * *"];
async function fireCron(cron = crons[0]) {
  const worker = await mf.getWorker(coordinator.name);
  return worker.scheduled({ cron, scheduledTime: new Date() });
}
await fireCron();
const cronTimer = setInterval(() => {
  fireCron().catch(() => {});
  // The hourly trigger, on the hour.
  if (new Date().getUTCMinutes() === 0 && crons.includes("0 * * * *")) fireCron("0 * * * *").catch(() => {});
}, Number(process.env.JETTY_CRON_SECONDS ?? 60) * 1000);
http
  .createServer(async (req, res) => {
    const edgeSwitch = req.url?.match(/^\/edges\/([^/]+)\/(down|up|stall|slow|429)(\?.*)?$/);
    const storeMode = req.url?.match(/^\/store\/(down|up|stall|reset|503|slow)(\?.*)?$/);
    const scheduled = new URL(req.url ?? "/", "http://control");
    if (req.method === "POST" && scheduled.pathname === "/scheduled") {
      try {
        const result = await fireCron(scheduled.searchParams.get("cron") ?? crons[0]);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    } else if (req.method === "POST" && storeMode && storeFaults) {
      await storeSwitch(storeMode[1], new URLSearchParams(storeMode[2] ?? ""));
      res.writeHead(200).end();
    } else if (req.method === "POST" && edgeSwitch && faultProxy) {
      const edge = edges.find((e) => e.id === edgeSwitch[1]);
      if (!edge) return res.writeHead(404).end();
      const action = { down: proxyDown, up: proxyUp, stall: proxyStall, slow: proxySlow, 429: proxyLimit }[edgeSwitch[2]];
      await action(edge, new URLSearchParams(edgeSwitch[3] ?? ""));
      res.writeHead(200).end();
    } else {
      res.writeHead(404).end();
    }
  })
  .listen(controlPort, "127.0.0.1");
console.log(`[fleet] control ${fleet.control}`);
console.log("[fleet] ready");

const shutdown = async () => {
  clearInterval(cronTimer);
  await mf.dispose().catch(() => {});
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
