// JettySpeed dashboard: reads GET /api/jetty/stats with the key entered once and kept in
// sessionStorage (this tab's session only; never localStorage, never a cookie, never a URL).
// Bundled with Chart.js by esbuild at build time (workers/coordinator/build.rs).
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";

import { formatBytes } from "../../../web/sdk/src/progress.ts";
import { bindSignIn, forgetKey, storedKey } from "../pages/api-key.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const REFRESH_MS = 15000;
const $ = (sel) => document.querySelector(sel);
let chart = null;
let timer = null;
// Bumped by every load and sign-out: an answer that arrives for an older one is dropped, so a
// slow response can never repaint a signed-out page or another key's numbers.
let generation = 0;
let loaded = false;

const number = new Intl.NumberFormat("en-US");

function formatUsd(n) {
  if (!Number.isFinite(n)) return "–";
  return n > 0 && n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
}

function formatSpeed(mbps) {
  if (mbps == null) return "–";
  return mbps < 0.1 ? `${(mbps * 1000).toFixed(0)} kB/s` : `${mbps.toFixed(1)} MB/s`;
}
const formatSeconds = (s) => (s == null ? "–" : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

function setCard(metric, value, sub, raw) {
  const card = document.querySelector(`[data-metric="${metric}"]`);
  card.querySelector(".value").textContent = value;
  card.querySelector(".sub").textContent = sub;
  card.dataset.value = String(raw);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(selector, rows, render) {
  const body = document.querySelector(`${selector} tbody`);
  body.replaceChildren(
    ...rows.map((item) => {
      const tr = document.createElement("tr");
      render(tr, item);
      return tr;
    }),
  );
}

function renderCards(st) {
  setCard("speed", formatSpeed(st.avgSpeedMbps), `${number.format(st.uploads)} uploads, mean ${formatSeconds(st.avgDurationSeconds)}`, st.avgSpeedMbps ?? "");
  setCard("bytes", formatBytes(st.bytes), `${number.format(st.bytes)} bytes in ${number.format(st.uploads)} uploads`, st.bytes);
  setCard(
    "savings",
    formatUsd(st.dedup.savedCost),
    `${number.format(st.dedup.files)} duplicate files, ${formatBytes(st.dedup.savedBytes)} not re-sent`,
    st.dedup.savedBytes,
  );
  setCard("cost", formatUsd(st.actualCost), `estimated ${formatUsd(st.estimatedCost)}; ${formatBytes(st.bytesTransferred)} moved`, st.actualCost);
}

function renderChart(edges) {
  const canvas = $("#edge-chart");
  $("#edges-empty").hidden = edges.length > 0;
  canvas.parentElement.hidden = edges.length === 0;
  const data = {
    labels: edges.map((e) => e.id),
    datasets: [
      { label: "Share of parts (%)", data: edges.map((e) => +(e.share * 100).toFixed(1)), backgroundColor: "#1f6feb", yAxisID: "share" },
      { label: "Throughput (Mbit/s)", data: edges.map((e) => e.throughputMbps ?? 0), backgroundColor: "#f08c00", yAxisID: "mbps" },
    ],
  };
  if (chart) {
    chart.data = data;
    chart.update();
  } else {
    chart = new Chart(canvas, {
      type: "bar",
      data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          share: { type: "linear", position: "left", beginAtZero: true, max: 100, title: { display: true, text: "% of parts" } },
          mbps: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "Mbit/s" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }
  canvas.dataset.rendered = String(edges.length);
  fillTable("#edges", edges, (tr, e) => {
    cell(tr, e.id);
    cell(tr, number.format(e.parts), "num");
    cell(tr, `${(e.share * 100).toFixed(0)}%`, "num");
    cell(tr, e.throughputMbps == null ? "–" : e.throughputMbps.toFixed(0), "num");
    cell(tr, e.latencyMs == null ? "–" : `${e.latencyMs.toFixed(0)} ms`, "num");
    cell(tr, e.load == null ? "–" : `${e.load.toFixed(0)}%`, "num");
    cell(tr, e.errors == null ? "–" : number.format(e.errors), "num");
  });
}

function renderRecent(sessions) {
  $("#recent-empty").hidden = sessions.length > 0;
  fillTable("#recent", sessions, (tr, s) => {
    cell(tr, s.accountId, "admin-only");
    cell(tr, s.fileName ?? s.fileId, "file").title = s.fileId;
    cell(tr, formatBytes(s.size), "num");
    cell(tr, s.status, `status-${s.status}`);
    cell(tr, formatSpeed(s.avgSpeedMbps), "num");
    cell(tr, formatSeconds(s.durationSeconds), "num");
    cell(tr, `${s.chunksCompleted}/${s.chunksTotal}`, "num");
    // Where the parts went; the planned edges until a part has been recorded.
    const carried = s.edgesCarried ?? [];
    cell(tr, (carried.length > 0 ? carried : s.edges ?? []).join(", ") || "–");
    cell(tr, new Date(s.startedAt).toLocaleString());
  });
}

function renderAccounts(accounts) {
  $("#accounts-panel").hidden = !accounts;
  fillTable("#accounts", accounts ?? [], (tr, a) => {
    cell(tr, a.name === a.id ? a.id : `${a.name} (${a.id})`);
    cell(tr, a.tier);
    cell(tr, number.format(a.uploads), "num");
    cell(tr, formatBytes(a.bytes), "num");
    cell(tr, formatSpeed(a.avgSpeedMbps), "num");
    cell(tr, formatBytes(a.dedupSavedBytes), "num");
  });
}

function showSignIn(message) {
  clearTimeout(timer);
  generation += 1;
  loaded = false;
  $("#dashboard").hidden = true;
  $("#sign-out").hidden = true;
  $("#scope").hidden = true;
  $("#updated").textContent = "";
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  $("#api-key").focus();
}

/** Refreshes later, unless the tab is hidden (it refreshes when shown again). */
function scheduleRefresh() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    if (!document.hidden) load();
  }, REFRESH_MS);
}

/** A failed load: before the first success, back to the form with the reason; after, keep the
 * numbers on screen, say so, and try again later. */
function failed(message) {
  if (!loaded) {
    forgetKey();
    showSignIn(message);
    return;
  }
  $("#updated").textContent = message;
  scheduleRefresh();
}

async function load() {
  clearTimeout(timer);
  const mine = ++generation;
  const key = storedKey();
  if (!key) return showSignIn();
  const current = () => mine === generation && storedKey() === key;
  let resp;
  let body = null;
  try {
    resp = await fetch("/api/jetty/stats", { headers: { authorization: `Bearer ${key}` }, cache: "no-store" });
    body = await resp.json().catch(() => null);
  } catch {
    if (current()) failed("Could not reach the server.");
    return;
  }
  if (!current()) return;
  if (resp.status === 401) {
    forgetKey();
    return showSignIn("That key was not accepted.");
  }
  if (!resp.ok || !body) {
    return failed(`The server answered ${resp.status}${body?.error ? `: ${body.error.message}` : ""}.`);
  }
  loaded = true;
  $("#sign-in").hidden = true;
  $("#dashboard").hidden = false;
  $("#sign-out").hidden = false;
  const scope = $("#scope");
  scope.hidden = false;
  scope.textContent = body.scope === "all" ? "all accounts" : body.account;
  document.body.classList.toggle("admin", body.scope === "all");
  renderCards(body);
  renderChart(body.edges);
  renderRecent(body.recentSessions);
  renderAccounts(body.accounts);
  $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.loaded = "true";
  scheduleRefresh();
}

bindSignIn(showSignIn, load);

$("#sign-out").addEventListener("click", () => {
  forgetKey();
  showSignIn();
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && loaded) load();
});

load();
