// Builds the plugin into web/uppy/dist: index.js (ES module; @uppy/core and @jettyspeed/sdk stay
// imports) and index.d.ts (tsc --emitDeclarationOnly, which also type-checks against the SDK's
// declarations, built first when missing or older than its sources). Prints what the plugin adds
// to a page, gzipped.
// Run from anywhere: `npm run build:uppy` at the repo root.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sdk = path.join(pkg, "../sdk");
const dist = path.join(pkg, "dist");
const run = (script) => {
  const r = spawnSync(process.execPath, script, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const newest = (dir) =>
  Math.max(...fs.readdirSync(dir, { recursive: true }).map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
const sdkTypes = path.join(sdk, "dist/index.d.ts");
if (!fs.existsSync(sdkTypes) || fs.statSync(sdkTypes).mtimeMs < newest(path.join(sdk, "src"))) run([path.join(sdk, "scripts/build.mjs")]);
fs.rmSync(dist, { recursive: true, force: true });

const entry = path.join(pkg, "src/index.ts");
const common = { entryPoints: [entry], bundle: true, format: "esm", platform: "browser", target: "es2020", logLevel: "warning" };
await build({ ...common, outfile: path.join(dist, "index.js"), sourcemap: true, external: ["@uppy/*", "@jettyspeed/sdk"] });

const require = createRequire(import.meta.url);
run([require.resolve("typescript/bin/tsc"), "-p", path.join(pkg, "tsconfig.json")]);

// What a page pays, minified and gzipped: the plugin alone (the SDK and Uppy imported), and the
// plugin with the SDK and hash-wasm (Uppy imported; the hash worker is a file of its own).
async function gz(external, alias = {}) {
  const out = await build({ ...common, minify: true, write: false, external, alias });
  const code = out.outputFiles[0].contents;
  return `${(code.length / 1024).toFixed(1)} KiB min, ${(zlib.gzipSync(code, { level: 9 }).length / 1024).toFixed(1)} KiB gzip`;
}
const alone = await gz(["@uppy/*", "@jettyspeed/sdk"]);
const withSdk = await gz(["@uppy/*"], { "@jettyspeed/sdk": path.join(sdk, "src/index.ts") });
const size = (f) => `${(fs.statSync(path.join(dist, f)).size / 1024).toFixed(1)} KiB`;
console.log(`built ${path.relative(process.cwd(), dist)}: index.js ${size("index.js")}, index.d.ts`);
console.log(`  the plugin alone: ${alone}; with the SDK (Uppy not counted): ${withSdk}`);
