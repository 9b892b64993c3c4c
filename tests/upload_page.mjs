// Drives the coordinator's /upload page in headless Chromium (Debian's, through playwright-core)
// the way a user does — sign in with a key, pick or drop files, reload, continue on another
// "device" — and prints what happened as one JSON line for a Rust test to check. Every line
// carries `consoleErrors`, `pageErrors` and `cspViolations` (all must be empty).
//
//   node tests/upload_page.mjs upload URL KEY FILE... [--bad-hash] [--drop] [--duplicate]
//       sign in, pick the files, wait until each is done; with --bad-hash the first body of
//       part 1 is corrupted on its way (the edge answers 422 chunk_hash_mismatch) and the page
//       must re-read, re-hash and send it again; with --drop the files are dropped on the drop
//       zone instead of picked (built in the page from their bytes: small files only); with
//       --duplicate a part refused 409 is expected (on its way when the content was found stored)
//   node tests/upload_page.mjs reload-resume URL KEY FILE AFTER_PARTS
//       start the file, reload the page once AFTER_PARTS parts are recorded, pick the same file
//       again: only the missing parts may be sent
//   node tests/upload_page.mjs continue URL KEY FILE [AFTER_PARTS]
//       (with AFTER_PARTS: first start the file in another browser profile and close it after
//       AFTER_PARTS parts); then, with no local state, click "Continue" on the listed unfinished
//       upload of that name, pick the file, wait until done
//   node tests/upload_page.mjs list URL KEY
//       what the page lists: unfinished uploads and recent files
//   node tests/upload_page.mjs cors-foreign URL EDGE_URL...
//       from a page on a foreign origin (http://foreign.test, mapped to 127.0.0.1) and from an
//       allowed one (http://localhost), call the coordinator and each edge: which were blocked
//   node tests/upload_page.mjs offline URL KEY FILE AFTER_PARTS OFFLINE_MS [SCREENSHOT_DIR]
//       the browser goes offline (DevTools network emulation: navigator.onLine and its events)
//       once AFTER_PARTS parts are recorded, stays so OFFLINE_MS, then comes back: what the page
//       did meanwhile and how the upload ended
//   node tests/upload_page.mjs screenshots URL KEY SCREENSHOT_DIR [FILE]
//       desktop and phone screenshots (after uploading FILE, if given), and whether the phone
//       layout scrolls sideways
//
// Environment: CHROMIUM_BIN (default /usr/bin/chromium), UPLOAD_TIMEOUT_MS (default 180000),
// THROTTLE_MBPS (emulate an upload link of that many Mbit/s; reload-resume and continue default
// to 400, so a local fleet does not finish before the reload; 0 turns it off).
const MIDWAY_MBPS = 400;
/** The `offline` command's link (Mbit/s): slow enough that the upload is mid-way for seconds. */
const OFFLINE_TEST_MBPS = 100;
import { launchChromium } from "./chromium.mjs";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const TIMEOUT = Number(process.env.UPLOAD_TIMEOUT_MS ?? 180000);
const FINISHED = ["done", "error", "aborted"];

const argv = process.argv.slice(2);
const flags = new Set(argv.filter((a) => a.startsWith("--")));
const [command, ...args] = argv.filter((a) => !a.startsWith("--"));

function usage() {
  console.error(
    "usage: node tests/upload_page.mjs upload URL KEY FILE... [--bad-hash] [--drop] [--duplicate]\n" +
      "       node tests/upload_page.mjs reload-resume URL KEY FILE AFTER_PARTS\n" +
      "       node tests/upload_page.mjs continue URL KEY FILE [AFTER_PARTS]\n" +
      "       node tests/upload_page.mjs list URL KEY\n" +
      "       node tests/upload_page.mjs offline URL KEY FILE AFTER_PARTS OFFLINE_MS [SCREENSHOT_DIR]\n" +
      "       node tests/upload_page.mjs cors-foreign URL EDGE_URL...\n" +
      "       node tests/upload_page.mjs screenshots URL KEY SCREENSHOT_DIR [FILE]",
  );
  process.exit(2);
}

const consoleErrors = [];
const pageErrors = [];
const cspViolations = [];

const launch = launchChromium;

/** A page that records console errors, script errors and CSP violations. */
async function newPage(context, { expectErrors = () => false } = {}) {
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__csp.push({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber }),
    );
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    if (/Content.Security.Policy/i.test(text)) cspViolations.push(text);
    else if (!expectErrors(text)) consoleErrors.push(text);
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && consoleErrors.push(`worker: ${m.text()}`)));
  return page;
}

async function collectCsp(page) {
  try {
    const v = await page.evaluate(() => window.__csp ?? []);
    for (const x of v) cspViolations.push(x);
  } catch {
    // The page is gone (closed or navigating).
  }
}

/** Emulates an upload link of THROTTLE_MBPS Mbit/s (default `fallback`; 0: none). */
async function throttle(page, fallback = 0) {
  const mbps = Number(process.env.THROTTLE_MBPS ?? fallback);
  if (!mbps) return;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 5,
    downloadThroughput: -1,
    uploadThroughput: (mbps * 1e6) / 8,
  });
}

async function signIn(page, url, key) {
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#sign-in:not([hidden]), body[data-signed-in=true]", { timeout: TIMEOUT });
  if ((await page.getAttribute("body", "data-signed-in")) !== "true") {
    await page.fill("#api-key", key);
    await page.click("#sign-in button[type=submit]");
  }
  await page.waitForSelector("body[data-signed-in=true][data-loaded=true]", { timeout: TIMEOUT });
}

/** The per-file counters the page keeps on each upload item. */
async function uploads(page) {
  return page.$$eval("#queue li.upload", (lis) => lis.map((li) => JSON.parse(li.dataset.counters || "{}")));
}

async function waitFinished(page, count) {
  await page.waitForFunction(
    (n) => {
      const lis = [...document.querySelectorAll("#queue li.upload")];
      return lis.length >= n && lis.every((li) => ["done", "error", "aborted"].includes(li.dataset.state));
    },
    count,
    { timeout: TIMEOUT, polling: 100 },
  );
  return uploads(page);
}

/** Waits until the newest upload item has at least `parts` parts recorded; its counters. */
async function waitParts(page, parts) {
  await page.waitForFunction(
    (n) => {
      const li = document.querySelector("#queue li.upload");
      const c = li && JSON.parse(li.dataset.counters || "{}");
      return c && (c.partsDone >= n || ["done", "error", "aborted"].includes(c.state));
    },
    parts,
    { timeout: TIMEOUT, polling: 20 },
  );
  return (await uploads(page))[0];
}

const MIB = 1024 * 1024;
function summary(c) {
  // Hashing speed: the file's size over the time until it was hashed through, whether the
  // upload waited for that (up to the SDK's HASH_FIRST_MAX) or sent its parts meanwhile.
  const hashMiBps = c.hashedSeconds > 0 ? c.size / MIB / c.hashedSeconds : null;
  const uploadMiBps = c.uploadSeconds > 0 ? c.bytesSent / MIB / c.uploadSeconds : null;
  return {
    name: c.name,
    state: c.state,
    fileId: c.fileId,
    sha256: c.sha256,
    url: c.url,
    size: c.size,
    parts: c.partsTotal,
    partsSent: c.partsSent,
    bytesSent: c.bytesSent,
    resumed: c.resumed,
    duplicate: c.duplicate,
    perEdge: c.perEdge,
    failedEdges: c.failedEdges,
    hashRetries: c.hashRetries,
    hashedInWorker: c.hashedInWorker,
    hashSeconds: c.hashSeconds,
    hashedSeconds: c.hashedSeconds,
    firstPartSeconds: c.firstPartSeconds,
    uploadSeconds: c.uploadSeconds,
    hashMiBps,
    uploadMiBps,
    error: c.error,
  };
}

/** Corrupts the first body of part 1 on its way to whichever edge gets it (once). Part 1's
 * length is the session's part size (the coordinator's answer the page got), never assumed. */
async function corruptFirstPart1(page, file) {
  let done = false;
  const seen = { corrupted: 0 };
  let partSize = null;
  page.on("response", async (resp) => {
    if (!resp.url().endsWith("/api/jetty/optimal-edges") || resp.request().method() !== "POST") return;
    const answer = await resp.json().catch(() => null);
    if (answer?.upload?.partSize) partSize = answer.upload.partSize;
  });
  await page.route(/\/api\/edge\/upload-chunk\?part=1$/, async (route) => {
    const req = route.request();
    if (done || req.method() !== "PUT") return route.continue();
    done = true;
    const declared = Number((await req.allHeaders())["content-length"] ?? 0);
    // The answer's body is read asynchronously here; the page had it before sending part 1.
    for (let i = 0; !declared && !partSize && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    if (!declared && !partSize) throw new Error("part 1 went out before the session's part size was seen");
    const len = declared || Math.min(fs.statSync(file).size, partSize);
    const body = Buffer.alloc(len);
    const fd = fs.openSync(file, "r");
    fs.readSync(fd, body, 0, len, 0);
    fs.closeSync(fd);
    body[Math.floor(len / 2)] ^= 0xff;
    seen.corrupted += 1;
    await route.continue({ postData: body });
  });
  return seen;
}

/** Drops the files on the drop zone the way a drag from the desktop does (a DataTransfer with
 * File objects; built in the page from the files' bytes, so keep them small). */
async function dropFiles(page, files) {
  const payload = files.map((f) => ({ name: path.basename(f), data: fs.readFileSync(f).toString("base64") }));
  const dt = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const it of items) {
      const bin = atob(it.data);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], it.name, { type: "application/octet-stream" }));
    }
    return dt;
  }, payload);
  for (const type of ["dragenter", "dragover", "drop"]) await page.dispatchEvent("#drop-zone", type, { dataTransfer: dt });
}

function print(result) {
  console.log(JSON.stringify({ ...result, consoleErrors, pageErrors, cspViolations }));
}

// ---------------------------------------------------------------------------------------------

async function cmdUpload([url, key, ...files]) {
  if (!url || !key || files.length === 0) usage();
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // The corrupted part is refused with 422, which Chromium logs as a failed resource; with
  // --duplicate, a part on its way when the content is found stored (the upload is closed) is
  // refused with 409.
  const page = await newPage(context, {
    expectErrors: (t) => (flags.has("--bad-hash") && /422/.test(t)) || (flags.has("--duplicate") && /\b409\b/.test(t)),
  });
  await throttle(page);
  const corrupt = flags.has("--bad-hash") ? await corruptFirstPart1(page, files[0]) : null;
  await signIn(page, url, key);
  const t0 = Date.now();
  if (flags.has("--drop")) await dropFiles(page, files);
  else await page.setInputFiles("#file-input", files);
  const done = await waitFinished(page, files.length);
  const seconds = (Date.now() - t0) / 1000;
  await collectCsp(page);
  const storage = await page.evaluate(async () => ({
    session: sessionStorage.length,
    local: localStorage.length,
    cookies: document.cookie,
    records: await new Promise((resolve) => {
      const req = indexedDB.open("jettyspeed");
      req.onsuccess = () => {
        try {
          const tx = req.result.transaction("uploads", "readonly");
          const all = tx.objectStore("uploads").getAll();
          all.onsuccess = () => resolve(all.result.length);
          all.onerror = () => resolve(-1);
        } catch {
          resolve(0);
        }
      };
      req.onerror = () => resolve(-1);
    }),
  }));
  await browser.close();
  // Newest first on the page; the order the files were given here.
  const byName = new Map(done.map((c) => [c.name, c]));
  print({
    files: files.map((f) => summary(byName.get(path.basename(f)) ?? { name: path.basename(f), state: "missing" })),
    seconds,
    corrupted: corrupt?.corrupted ?? 0,
    storage,
  });
}

async function cmdReloadResume([url, key, file, afterParts]) {
  if (!url || !key || !file || !afterParts) usage();
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Parts cut off by the reload are logged as failed requests.
  const page = await newPage(context, { expectErrors: (t) => /net::ERR_|Failed to load resource/.test(t) });
  await throttle(page, MIDWAY_MBPS);
  await signIn(page, url, key);
  await page.setInputFiles("#file-input", file);
  const before = await waitParts(page, Number(afterParts));
  await collectCsp(page);
  // Leaving mid-upload asks first (beforeunload); the user says leave.
  const dialogs = [];
  page.once("dialog", (d) => {
    dialogs.push(d.type());
    d.accept().catch(() => {});
  });
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector("body[data-signed-in=true][data-loaded=true]", { timeout: TIMEOUT });
  const listed = await page.$$eval("#unfinished li", (lis) => lis.map((li) => ({ fileId: li.dataset.fileId, stats: li.querySelector(".stats").textContent })));
  const listedHere = listed.find((l) => l.fileId === before.fileId) ?? null;
  await page.setInputFiles("#file-input", file);
  const [after] = await waitFinished(page, 1);
  await collectCsp(page);
  await browser.close();
  print({
    fileId: before.fileId,
    stateBeforeReload: before.state,
    partsBeforeReload: before.partsDone,
    leaveAsked: dialogs.includes("beforeunload"),
    listedAfterReload: !!listedHere,
    listedAsThisBrowsers: !!listedHere && /started in this browser/.test(listedHere.stats),
    fileIdAfterReload: after.fileId,
    partsSentAfterReload: after.partsSent,
    ...summary(after),
  });
}

async function cmdContinue([url, key, file, afterParts]) {
  if (!url || !key || !file) usage();
  const browser = await launch();
  const name = path.basename(file);
  let started = null;
  if (afterParts) {
    // Another "device": its own profile, closed mid-upload (the session stays open).
    const other = await browser.newContext();
    const page = await newPage(other, { expectErrors: (t) => /net::ERR_|Failed to load resource/.test(t) });
    await throttle(page, MIDWAY_MBPS);
    await signIn(page, url, key);
    await page.setInputFiles("#file-input", file);
    started = await waitParts(page, Number(afterParts));
    await collectCsp(page);
    await other.close();
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await newPage(context);
  await throttle(page, MIDWAY_MBPS);
  await signIn(page, url, key);
  const selector = `#unfinished li[data-name="${name.replaceAll('"', '\\"')}"]`;
  if (await page.isVisible("#unfinished-more")) await page.click("#unfinished-more");
  const listed = await page.$$eval(selector, (lis) => lis.map((li) => JSON.parse(li.dataset.counters)));
  if (listed.length === 0) {
    await browser.close();
    print({ error: `no unfinished upload named ${name} is listed`, started: started && summary(started) });
    process.exitCode = 1;
    return;
  }
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser", { timeout: TIMEOUT }),
    page.click(`${selector} button[data-action="continue"]`),
  ]);
  await chooser.setFiles(file);
  const [after] = await waitFinished(page, 1);
  await collectCsp(page);
  await browser.close();
  print({
    listedFileId: listed[0].fileId,
    listedPartsDone: listed[0].partsDone,
    startedFileId: started?.fileId ?? null,
    startedPartsDone: started?.partsDone ?? null,
    ...summary(after),
  });
}

async function cmdOffline([url, key, file, afterParts, offlineMs, screenshotDir]) {
  if (!url || !key || !file || !afterParts || !offlineMs) usage();
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Parts cut off when the network goes are logged as failed requests.
  const page = await newPage(context, { expectErrors: (t) => /net::ERR_|Failed to load resource/.test(t) });
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const network = (offline) =>
    cdp.send("Network.emulateNetworkConditions", {
      offline,
      latency: 5,
      downloadThroughput: -1,
      uploadThroughput: (Number(process.env.THROTTLE_MBPS ?? OFFLINE_TEST_MBPS) * 1e6) / 8,
    });
  await network(false);
  await signIn(page, url, key);
  await page.setInputFiles("#file-input", file);
  const before = await waitParts(page, Number(afterParts));
  await network(true);
  const offlineAt = Date.now();
  await page.waitForFunction(() => JSON.parse(document.querySelector("#queue li.upload")?.dataset.counters || "{}").offline === true, null, {
    timeout: TIMEOUT,
    polling: 50,
  });
  const noticedMs = Date.now() - offlineAt;
  // What was on its way when the network went is cut off; from then on nothing may be sent.
  await page.waitForTimeout(1000);
  const [early] = await uploads(page);
  await page.waitForTimeout(Math.max(0, Number(offlineMs) - (Date.now() - offlineAt)));
  const [late] = await uploads(page);
  const note = await page.textContent("#queue li.upload .message");
  if (screenshotDir) {
    fs.mkdirSync(screenshotDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotDir, "upload-offline.png") });
  }
  await network(false);
  const [after] = await waitFinished(page, 1);
  await collectCsp(page);
  await browser.close();
  print({
    partsBeforeOffline: before.partsDone,
    noticedMs,
    offlineMs: Number(offlineMs),
    stateWhileOffline: late.state,
    noteWhileOffline: note,
    bytesSentOfflineEarly: early.bytesSent,
    bytesSentOfflineLate: late.bytesSent,
    partsDoneOffline: late.partsDone,
    failedEdgesOffline: late.failedEdges,
    ...summary(after),
  });
}

async function cmdList([url, key]) {
  if (!url || !key) usage();
  const browser = await launch();
  const page = await newPage(await browser.newContext());
  await signIn(page, url, key);
  const unfinished = await page.$$eval("#unfinished li", (lis) => lis.map((li) => JSON.parse(li.dataset.counters)));
  const files = await page.$$eval("#files li", (lis) =>
    lis.map((li) => ({ id: li.dataset.fileId, name: li.dataset.name, url: li.dataset.url, sha256: li.dataset.sha256 })),
  );
  const messages = {
    unfinished: await page.$eval("#unfinished-error", (e) => (e.hidden ? null : e.textContent)),
    files: await page.$eval("#files-error", (e) => (e.hidden ? null : e.textContent)),
  };
  const scope = await page.textContent("#scope");
  await collectCsp(page);
  // Signing out forgets the key; the lists are no longer shown.
  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])", { timeout: TIMEOUT });
  const afterSignOut = await page.evaluate(() => ({ session: sessionStorage.length, appShown: !document.querySelector("#app").hidden }));
  await browser.close();
  print({ scope, unfinished, files, messages, afterSignOut });
}

async function cmdCorsForeign([url, ...edges]) {
  if (!url) usage();
  const coordinator = new URL(url).origin;
  // A tiny page with no policy of its own, served on a port of this machine.
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>elsewhere</title><p>a page on another origin</p>");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  const browser = await launch(["--host-resolver-rules=MAP foreign.test 127.0.0.1"]);
  const targets = [
    { name: "coordinator", method: "POST", url: `${coordinator}/api/jetty/optimal-edges`, headers: { authorization: "Bearer jt_not_a_key", "content-type": "application/json" }, body: "{}" },
    { name: "coordinator-get", method: "GET", url: `${coordinator}/api/files`, headers: { authorization: "Bearer jt_not_a_key" } },
    ...edges.map((e, i) => ({
      name: `edge${i}`,
      method: "PUT",
      url: `${new URL(e).origin}/api/edge/upload-chunk?part=1`,
      headers: { authorization: "Bearer not_a_token", "x-chunk-sha256": "00".repeat(32) },
      body: "x",
    })),
  ];
  const result = {};
  for (const [label, origin] of [
    ["foreign", `http://foreign.test:${port}`],
    ["local", `http://localhost:${port}`],
  ]) {
    const context = await browser.newContext();
    // Blocked requests are logged as console errors: expected here, and they say why.
    const logged = [];
    const page = await newPage(context, { expectErrors: (t) => (logged.push(t), true) });
    await page.goto(`${origin}/`, { waitUntil: "load" });
    result[label] = { origin };
    for (const t of targets) {
      result[label][t.name] = await page.evaluate(async (t) => {
        try {
          const resp = await fetch(t.url, { method: t.method, headers: t.headers, body: t.body });
          let code = null;
          try {
            code = (await resp.json())?.error?.code ?? null;
          } catch {
            code = null;
          }
          return { blocked: false, status: resp.status, code };
        } catch (e) {
          return { blocked: true, error: String(e) };
        }
      }, t);
    }
    // Why they were blocked, in Chromium's words ("… has been blocked by CORS policy: …").
    result[label].blockedByCors = logged.filter((t) => /blocked by CORS policy/.test(t)).length;
    await context.close();
  }
  await browser.close();
  server.close();
  print(result);
}

async function cmdScreenshots([url, key, dir, file]) {
  if (!url || !key || !dir) usage();
  fs.mkdirSync(dir, { recursive: true });
  const browser = await launch();
  const result = {};
  for (const [name, options] of [
    ["desktop", { viewport: { width: 1280, height: 900 } }],
    ["phone", { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
  ]) {
    const context = await browser.newContext(options);
    const page = await newPage(context);
    await throttle(page);
    await signIn(page, url, key);
    if (file) {
      await page.setInputFiles("#file-input", file);
      // While it is under way (a throttled link makes sure there is a moment to catch).
      try {
        await page.waitForSelector('#queue li[data-state="uploading"]', { timeout: 10000 });
        await page.waitForTimeout(700);
        await page.screenshot({ path: path.join(dir, `upload-${name}-progress.png`) });
      } catch {
        // Too fast to catch: no progress shot.
      }
      await waitFinished(page, 1);
    }
    result[name] = await page.evaluate(() => ({
      pageWidth: document.documentElement.scrollWidth,
      viewportWidth: window.innerWidth,
    }));
    const shot = path.join(dir, `upload-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    // The first screen, as a user sees it on arrival.
    await page.screenshot({ path: path.join(dir, `upload-${name}-top.png`) });
    result[name].screenshot = shot;
    await collectCsp(page);
    await context.close();
  }
  await browser.close();
  print(result);
}

const commands = {
  upload: cmdUpload,
  "reload-resume": cmdReloadResume,
  continue: cmdContinue,
  list: cmdList,
  offline: cmdOffline,
  "cors-foreign": cmdCorsForeign,
  screenshots: cmdScreenshots,
};
const run = commands[command];
if (!run) usage();
try {
  await run(args);
} catch (e) {
  print({ error: String(e?.stack ?? e) });
  process.exitCode = 1;
  process.exit();
}
