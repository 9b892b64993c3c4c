// Opens the coordinator's /dashboard in headless Chromium (Debian's, driven by playwright-core),
// signs in with a key the way a user does, and prints what the page shows as one JSON line for
// tests/dashboard.rs to check. Screenshots (desktop and phone) go to SCREENSHOT_DIR.
//
//   node tests/dashboard.mjs URL API_KEY SCREENSHOT_DIR NAME
import { launchChromium } from "./chromium.mjs";
import fs from "node:fs";
import path from "node:path";

const [url, apiKey, screenshotDir, name] = process.argv.slice(2);
if (!url || !apiKey || !screenshotDir || !name) {
  console.error("usage: node tests/dashboard.mjs URL API_KEY SCREENSHOT_DIR NAME");
  process.exit(2);
}
fs.mkdirSync(screenshotDir, { recursive: true });

const browser = await launchChromium();

const consoleErrors = [];
const requests = [];

const TIMEOUT = 30000; // a loaded 2-core machine is slow, not broken

async function openPage(context, { refusalExpected = false } = {}) {
  const page = await context.newPage();
  // Chromium logs the 401 of a deliberately wrong key as a console error; nothing else may be.
  page.on("console", (m) => m.type() === "error" && !refusalExpected && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#sign-in:not([hidden])", { timeout: TIMEOUT });
  return page;
}

async function signedIn(context, key = apiKey) {
  const page = await openPage(context);
  await page.fill("#api-key", key);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("body[data-loaded=true]", { timeout: TIMEOUT });
  return page;
}

/** Pixels of the chart canvas in each dataset's colour (share: blue, throughput: orange). The
 * legend's two swatches are small; bars make thousands. */
async function chartPixels(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector("#edge-chart");
    const counts = { share: 0, throughput: 0 };
    if (!canvas || canvas.width === 0 || canvas.height === 0) return counts;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const near = (i, r, g, b) => Math.abs(data[i] - r) < 10 && Math.abs(data[i + 1] - g) < 10 && Math.abs(data[i + 2] - b) < 10 && data[i + 3] > 200;
    for (let i = 0; i < data.length; i += 4) {
      if (near(i, 0x1f, 0x6f, 0xeb)) counts.share += 1;
      else if (near(i, 0xf0, 0x8c, 0x00)) counts.throughput += 1;
    }
    return counts;
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
result.storage = await page.evaluate((key) => ({
  session: sessionStorage.length,
  local: localStorage.length,
  cookies: document.cookie,
  keyInUrl: location.href.includes(key),
}), apiKey);
await page.screenshot({ path: path.join(screenshotDir, `${name}-desktop.png`), fullPage: true });
// A reload in the same tab stays signed in.
await page.reload({ waitUntil: "load" });
await page.waitForSelector("body[data-loaded=true]", { timeout: TIMEOUT });
result.signedInAfterReload = await page.isVisible("#dashboard");
// Another tab of the same browser does not get the key (localStorage or a cookie would give it).
const otherTab = await openPage(desktop);
result.otherTabSignedOut = !(await otherTab.isVisible("#dashboard"));
// Signing out forgets it.
await page.click("#sign-out");
await page.waitForSelector("#sign-in:not([hidden])", { timeout: TIMEOUT });
result.afterSignOut = await page.evaluate(() => ({ session: sessionStorage.length, dashboardShown: !document.querySelector("#dashboard").hidden }));
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

// A wrong key is refused with a message, and nothing is kept.
const wrong = await browser.newContext();
page = await openPage(wrong, { refusalExpected: true });
await page.fill("#api-key", `${apiKey}x`);
await page.click("#sign-in button[type=submit]");
await page.waitForSelector("#sign-in-error:not([hidden])", { timeout: TIMEOUT });
result.wrongKey = {
  message: await page.textContent("#sign-in-error"),
  dashboardShown: await page.isVisible("#dashboard"),
  session: await page.evaluate(() => sessionStorage.length),
};
await wrong.close();

await browser.close();
const origin = new URL(url).origin;
result.foreignRequests = requests.filter((r) => !r.startsWith(origin) && !r.startsWith("data:"));
result.consoleErrors = consoleErrors;
console.log(JSON.stringify(result));
