// Builds the SDK into web/sdk/dist: index.js (ES module; hash-wasm stays an import), the hash
// worker (self-contained, hash-wasm included) and the .d.ts files (tsc --emitDeclarationOnly,
// which also type-checks). Run from anywhere: `npm run build:sdk` at the repo root.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(sdk, "dist");
fs.rmSync(dist, { recursive: true, force: true });

const common = { bundle: true, format: "esm", platform: "browser", target: "es2020", sourcemap: true, logLevel: "warning" };
await build({ ...common, entryPoints: [path.join(sdk, "src/index.ts")], outfile: path.join(dist, "index.js"), external: ["hash-wasm"] });
await build({ ...common, entryPoints: [path.join(sdk, "src/hash-worker.ts")], outfile: path.join(dist, "hash-worker.js"), minify: true });

const require = createRequire(import.meta.url);
const tsc = require.resolve("typescript/bin/tsc");
const r = spawnSync(process.execPath, [tsc, "-p", path.join(sdk, "tsconfig.json")], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);
const size = (f) => `${(fs.statSync(path.join(dist, f)).size / 1024).toFixed(1)} KiB`;
console.log(`built ${path.relative(process.cwd(), dist)}: index.js ${size("index.js")}, hash-worker.js ${size("hash-worker.js")}, .d.ts`);
