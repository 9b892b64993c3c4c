// Runs the plugin's unit tests with plain Node: web/uppy/test/*.test.ts bundled (with the real
// @uppy/core, the SDK from its sources and the SDK's in-memory fleet), then `node --test`.
// `npm run test:uppy` at the repo root.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runBundledTests } from "../../sdk/scripts/run-tests.mjs";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
await runBundledTests({ pkg, name: "uppy", alias: { "@jettyspeed/sdk": path.join(pkg, "../sdk/src/index.ts") } });
