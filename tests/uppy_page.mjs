// Drives an unchanged Uppy Dashboard whose uploader is the JettySpeed plugin (web/uppy/example,
// bundled from sources with esbuild and served by this script on http://localhost:<port>) in
// headless Chromium (Debian's, through playwright-core): the file is picked in the Dashboard's
// file input and the Dashboard's upload button clicked, as a user does. Prints what Uppy reported
// as one JSON line for tests/uppy_page.rs to check; every line carries `consoleErrors`,
// `pageErrors` (both must be empty) and `expectedErrors` (console errors the case expects).
//
//   node tests/uppy_page.mjs upload COORDINATOR KEY FILE [SCREENSHOT_DIR]
//       pick FILE, click upload, wait for Uppy's `complete`; Uppy's result, its events and the
//       Dashboard's state (and a screenshot of the finished Dashboard)
//   node tests/uppy_page.mjs bad-key COORDINATOR FILE
//       the same with a key the coordinator does not know: the upload-error Uppy got
//   node tests/uppy_page.mjs reload-resume COORDINATOR KEY FILE AFTER_PARTS
//       upload with 5 MiB parts one at a time over an emulated 100 Mbit/s link, reload the page
//       once the coordinator has AFTER_PARTS parts, pick the file again and upload: the SDK's
//       IndexedDB record continues the same session
//
// Environment: CHROMIUM_BIN (default /usr/bin/chromium), UPLOAD_TIMEOUT_MS (default 180000).
import { launchChromium } from "./chromium.mjs";
import path from "node:path";
import { serveExample } from "../web/uppy/scripts/example-server.mjs";

const TIMEOUT = Number(process.env.UPLOAD_TIMEOUT_MS ?? 180000);
const MIB = 1024 * 1024;

const [command, ...args] = process.argv.slice(2);
function usage() {
  console.error(
    "usage: node tests/uppy_page.mjs upload COORDINATOR KEY FILE [SCREENSHOT_DIR]\n" +
      "       node tests/uppy_page.mjs bad-key COORDINATOR FILE\n" +
      "       node tests/uppy_page.mjs reload-resume COORDINATOR KEY FILE AFTER_PARTS",
  );
  process.exit(2);
}

const consoleErrors = [];
const expectedErrors = [];
const pageErrors = [];

const launch = launchChromium;

/** A page that records console errors (those `expected` says are part of the case apart) and
 * script errors. */
async function newPage(context, expected = () => false) {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    (expected(m.text()) ? expectedErrors : consoleErrors).push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && consoleErrors.push(`worker: ${m.text()}`)));
  return page;
}

/** Opens the example page and starts recording what Uppy emits into `window.__uppy`. */
async function open(page, port, coordinator, key) {
  const fragment = new URLSearchParams({ coordinator, key });
  await page.goto(`http://localhost:${port}/#${fragment}`, { waitUntil: "load" });
  await page.waitForFunction(() => window.uppy && document.querySelector(".uppy-Dashboard"), null, { timeout: TIMEOUT });
  await page.evaluate(() => {
    const seen = { progress: [], success: [], errors: [], stalled: [], preprocess: 0, complete: null };
    const uppy = window.uppy;
    uppy.on("upload-progress", (f, p) => seen.progress.push({ id: f.id, bytesUploaded: p.bytesUploaded, bytesTotal: p.bytesTotal }));
    uppy.on("preprocess-progress", () => (seen.preprocess += 1));
    uppy.on("upload-success", (f, r) => seen.success.push({ id: f.id, status: r.status, uploadURL: r.uploadURL, body: r.body }));
    uppy.on("upload-error", (f, e, r) =>
      seen.errors.push({ id: f?.id, name: e.name, message: e.message, code: e.code ?? null, kind: e.kind ?? null, status: r?.status ?? null, body: r?.body ?? null }),
    );
    uppy.on("upload-stalled", (e) => seen.stalled.push(e.message));
    uppy.on("complete", (r) => {
      const brief = (f) => ({ id: f.id, name: f.name, size: f.size, error: f.error ?? null, uploadURL: f.uploadURL ?? null, response: f.response ?? null });
      seen.complete = { successful: (r.successful ?? []).map(brief), failed: (r.failed ?? []).map(brief) };
    });
    window.__uppy = seen;
  });
}

/** Picks `file` in the Dashboard's file input (the one for files, not folders). */
async function pick(page, file) {
  const input = page.locator("input.uppy-Dashboard-input[name='files[]']:not([webkitdirectory])");
  await input.setInputFiles(file);
  await page.waitForSelector(".uppy-Dashboard-Item", { timeout: TIMEOUT });
}

/** Clicks the Dashboard's upload button and waits for Uppy's `complete`. */
async function uploadAndWait(page) {
  await page.waitForFunction(() => window.__uppy.complete === null, null, { timeout: TIMEOUT });
  await page.click(".uppy-StatusBar-actionBtn--upload", { timeout: TIMEOUT });
  await page.waitForFunction(() => window.__uppy.complete !== null, null, { timeout: TIMEOUT, polling: 100 });
  return results(page);
}

/** What Uppy reported, and what the Dashboard shows. */
async function results(page) {
  return page.evaluate(() => {
    const seen = window.__uppy;
    const bytes = seen.progress.map((p) => p.bytesUploaded);
    const files = window.uppy.getFiles().map((f) => ({ id: f.id, name: f.name, error: f.error ?? null, progress: f.progress, uploadURL: f.uploadURL ?? null }));
    const bar = document.querySelector(".uppy-StatusBar");
    return {
      complete: seen.complete,
      success: seen.success,
      errors: seen.errors,
      stalled: seen.stalled,
      preprocessEvents: seen.preprocess,
      progress: { events: bytes.length, max: bytes.length ? Math.max(...bytes) : null, last: bytes.at(-1) ?? null, totals: [...new Set(seen.progress.map((p) => p.bytesTotal))] },
      files,
      dashboard: {
        statusBar: bar ? [...bar.classList].filter((c) => c.startsWith("is-")) : null,
        items: [...document.querySelectorAll(".uppy-Dashboard-Item")].map((el) => ({
          complete: el.classList.contains("is-complete"),
          error: el.classList.contains("is-error"),
        })),
      },
    };
  });
}

function print(result) {
  console.log(JSON.stringify({ ...result, consoleErrors, pageErrors, expectedErrors }));
}

// ---------------------------------------------------------------------------------------------

async function cmdUpload([coordinator, key, file, shots]) {
  if (!coordinator || !key || !file) usage();
  const { server, port } = await serveExample();
  const browser = await launch();
  try {
    const page = await newPage(await browser.newContext({ viewport: { width: 1000, height: 760 } }));
    await open(page, port, coordinator, key);
    await pick(page, file);
    const t0 = Date.now();
    const out = await uploadAndWait(page);
    out.seconds = (Date.now() - t0) / 1000;
    out.origin = `http://localhost:${port}`;
    if (shots) {
      out.screenshot = path.join(shots, "uppy-dashboard.png");
      await page.screenshot({ path: out.screenshot, fullPage: true });
    }
    print(out);
  } finally {
    await browser.close();
    server.close();
  }
}

async function cmdBadKey([coordinator, file]) {
  if (!coordinator || !file) usage();
  const { server, port } = await serveExample();
  const browser = await launch();
  try {
    // The coordinator's 401 is logged as a failed resource, and Uppy logs the upload's failure.
    const page = await newPage(await browser.newContext(), (t) => /401|invalid_api_key|\[Uppy\]/.test(t));
    await open(page, port, coordinator, "jt_live_not_a_key_of_this_fleet");
    await pick(page, file);
    print(await uploadAndWait(page));
  } finally {
    await browser.close();
    server.close();
  }
}

async function cmdReloadResume([coordinator, key, file, afterParts]) {
  if (!coordinator || !key || !file || !afterParts) usage();
  const { server, port } = await serveExample();
  const browser = await launch();
  try {
    // Parts cut off by the reload are logged as failed requests.
    const page = await newPage(await browser.newContext(), (t) => /net::ERR_|Failed to load resource/.test(t));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: (100 * 1e6) / 8 });
    const slow = () =>
      page.evaluate((partSize) => window.uppy.getPlugin("JettySpeed").setOptions({ concurrency: 1, uploadOptions: { partSize } }), 5 * MIB);
    await open(page, port, coordinator, key);
    await slow();
    await pick(page, file);
    await page.click(".uppy-StatusBar-actionBtn--upload", { timeout: TIMEOUT });
    // The session, from the SDK's record in IndexedDB; then its parts, from the coordinator.
    const recorded = () =>
      page.evaluate(
        async ({ coordinator, key }) => {
          const records = await new Promise((resolve) => {
            const req = indexedDB.open("jettyspeed");
            req.onsuccess = () => {
              try {
                const all = req.result.transaction("uploads", "readonly").objectStore("uploads").getAll();
                all.onsuccess = () => resolve(all.result);
                all.onerror = () => resolve([]);
              } catch {
                resolve([]); // no store yet
              }
            };
            req.onerror = () => resolve([]);
          });
          if (records.length !== 1) return null;
          const { fileId, fileSize, partSize } = records[0];
          const r = await fetch(`${coordinator}/api/jetty/get-state/me/${fileId}`, { headers: { authorization: `Bearer ${key}` } });
          const parts = (await r.json())?.state?.chunksUploaded?.length ?? 0;
          return { fileId, parts, partCount: Math.ceil(fileSize / partSize) };
        },
        { coordinator, key },
      );
    const deadline = Date.now() + TIMEOUT;
    let beforeReload = null;
    while (!(beforeReload?.parts >= Number(afterParts))) {
      if (Date.now() > deadline) throw new Error(`no session with ${afterParts} parts recorded: ${JSON.stringify(beforeReload)}`);
      await new Promise((r) => setTimeout(r, 50));
      beforeReload = await recorded();
    }
    const uppyBefore = await results(page);
    await page.reload({ waitUntil: "load" });
    await open(page, port, coordinator, key);
    await slow();
    await pick(page, file);
    const after = await uploadAndWait(page);
    print({ beforeReload, completeBeforeReload: uppyBefore.complete, ...after });
  } finally {
    await browser.close();
    server.close();
  }
}

const commands = { upload: cmdUpload, "bad-key": cmdBadKey, "reload-resume": cmdReloadResume };
const run = commands[command];
if (!run) usage();
try {
  await run(args);
} catch (e) {
  print({ error: String(e?.stack ?? e) });
  process.exitCode = 1;
}
