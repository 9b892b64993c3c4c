// Runs a package's unit tests with plain Node: bundles <pkg>/test/*.test.ts (or those whose
// names contain one of the command-line arguments) with esbuild into a temporary directory, then
// `node --test` on the bundles. Used by web/sdk/scripts/test.mjs and web/uppy/scripts/test.mjs.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export async function runBundledTests({ pkg, name, alias = {} }) {
  const testDir = path.join(pkg, "test");
  const only = process.argv.slice(2);
  const entries = fs
    .readdirSync(testDir)
    .filter((f) => f.endsWith(".test.ts") && (only.length === 0 || only.some((o) => f.includes(o))))
    .map((f) => path.join(testDir, f));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `jetty-${name}-test-`));
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
      alias,
      // A bundle that imports a CommonJS-only built-in still works in ESM.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    const files = fs.readdirSync(out).filter((f) => f.endsWith(".mjs")).map((f) => path.join(out, f));
    const r = spawnSync(process.execPath, ["--enable-source-maps", "--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
    process.exitCode = r.status ?? 1;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}
