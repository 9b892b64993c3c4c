// Runs the SDK's unit tests with plain Node (web/sdk/test/*.test.ts, bundled by esbuild, then
// `node --test`). `npm run test:sdk` at the repo root.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runBundledTests } from "./run-tests.mjs";

await runBundledTests({ pkg: path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."), name: "sdk" });
