// Opens the coordinator's /dashboard in headless Chromium (Debian's, driven by playwright-core),
// signs in with a key the way a user does, and prints what the page shows as one JSON line for
// tests/dashboard.rs to check. Screenshots (desktop and phone) go to SCREENSHOT_DIR.
//
//   node tests/dashboard.mjs URL API_KEY SCREENSHOT_DIR NAME
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const [url, apiKey, screenshotDir, name] = process.argv.slice(2);
if (!url || !apiKey || !screenshotDir || !name) {
  console.error("usage: node tests/dashboard.mjs URL API_KEY SCREENSHOT_DIR NAME");
  process.exit(2);
}
fs.mkdirSync(screenshotDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
  headless: true,
  // The machine's network is closed: without these Chromium keeps dialling Google's hosts.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const consoleErrors = [];
const requests = [];

async function signedIn(context) {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#sign-in:not([hidden])", { timeout: 15000 });
  await page.fill("#api-key", apiKey);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("body[data-loaded=true]", { timeout: 15000 });
  return page;
}

/** Non-transparent pixels the chart drew on its canvas (0 when nothing was drawn). */
async function chartPixels(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector("#edge-chart");
    if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) painted += 1;
    return painted;
  });
}

async function cards(page) {
  return page.$$eval("#cards [data-metric]", (els) =>
    Object.fromEntries(
      els.map((el) => [
        el.dataset.metric,
        { value: el.querySelector(".value").textContent, sub: el.querySelector(".sub").textContent, raw: el.dataset.value },
      ]),
    ),
  );
}

const result = {};

// Desktop.
const desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
let page = await signedIn(desktop);
result.cards = await cards(page);
result.scope = await page.textContent("#scope");
result.chartPixels = await chartPixels(page);
result.chartBars = Number(await page.getAttribute("#edge-chart", "data-rendered"));
result.edgeRows = await page.$$eval("#edges tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
result.recentFiles = await page.$$eval("#recent tbody tr", (rows) => rows.map((r) => r.querySelector(".file").textContent));
result.accountsShown = await page.isVisible("#accounts-panel");
result.accountRows = await page.$$eval("#accounts tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
result.pageText = await page.innerText("body");
// The key lives in this tab's session only.
result.storage = await page.evaluate(() => ({
  session: sessionStorage.length,
  local: localStorage.length,
  cookies: document.cookie,
  keyInUrl: location.href.includes("jsk_") || location.href.includes("jsa_"),
}));
await page.screenshot({ path: path.join(screenshotDir, `${name}-desktop.png`), fullPage: true });
// A reload in the same tab stays signed in.
await page.reload({ waitUntil: "load" });
await page.waitForSelector("body[data-loaded=true]", { timeout: 15000 });
result.signedInAfterReload = await page.isVisible("#dashboard");
await desktop.close();

// Phone: readable without sideways scrolling of the page itself (tables scroll in their box).
const phone = await browser.newContext({
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
});
page = await signedIn(phone);
result.phone = await page.evaluate(() => ({
  pageWidth: document.documentElement.scrollWidth,
  viewportWidth: window.innerWidth,
}));
result.phoneChartPixels = await chartPixels(page);
await page.screenshot({ path: path.join(screenshotDir, `${name}-phone.png`), fullPage: true });
await phone.close();

// A new browser session starts signed out.
const fresh = await browser.newContext();
page = await fresh.newPage();
await page.goto(url, { waitUntil: "load" });
await page.waitForSelector("#sign-in:not([hidden])", { timeout: 15000 });
result.freshSessionSignedOut = !(await page.isVisible("#dashboard"));
await fresh.close();

await browser.close();
const origin = new URL(url).origin;
result.foreignRequests = requests.filter((r) => !r.startsWith(origin) && !r.startsWith("data:"));
result.consoleErrors = consoleErrors;
console.log(JSON.stringify(result));
