// Headless Chromium for the browser tests (dashboard.mjs, upload_page.mjs, uppy_page.mjs):
// the machine's Chromium (CHROMIUM_BIN, default /usr/bin/chromium) through playwright-core.
import { chromium } from "playwright-core";

export function launchChromium(extraArgs = []) {
  return chromium.launch({
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
      ...extraArgs,
    ],
  });
}
