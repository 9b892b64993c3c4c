// Runs the plugin's unit tests with plain Node: bundles web/uppy/test/*.test.ts (with the real
// @uppy/core, the SDK from its sources and the SDK's in-memory fleet) into a temporary
// directory, then `node --test` on the bundles. `npm run test:uppy` at the repo root.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const testDir = path.join(pkg, "test");
const only = process.argv.slice(2);
const entries = fs
  .readdirSync(testDir)
  .filter((f) => f.endsWith(".test.ts") && (only.length === 0 || only.some((o) => f.includes(o))))
  .map((f) => path.join(testDir, f));
const out = fs.mkdtempSync(path.join(os.tmpdir(), "jetty-uppy-test-"));
try {
  await build({
    entryPoints: entries,
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "inline",
    logLevel: "warning",
    alias: { "@jettyspeed/sdk": path.join(pkg, "../sdk/src/index.ts") },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const files = fs.readdirSync(out).filter((f) => f.endsWith(".mjs")).map((f) => path.join(out, f));
  const r = spawnSync(process.execPath, ["--enable-source-maps", "--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
