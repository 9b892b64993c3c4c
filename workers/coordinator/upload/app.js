// JettySpeed upload page: drop or pick files; each is hashed in a Web Worker, cut into parts
// and sent over the edges the coordinator picks, with progress, pause/resume and resuming
// after a reload (IndexedDB) or from another device (the account's unfinished uploads). The
// API key is entered once and kept in sessionStorage (this tab's session only), as on the
// dashboard. Bundled with the SDK (web/sdk) by esbuild at build time; the hash worker is
// served separately at /upload/hash-worker.js.
import { JettyClient, formatBytes, formatDuration } from "../../../web/sdk/src/index.ts";
import { bindSignIn, forgetKey, storedKey } from "../pages/api-key.js";

const FILES_AT_ONCE = 2;
const PARTS_PER_FILE = 6;
const FILES_PAGE = 20;
// Unfinished uploads shown before "Show all".
const UNFINISHED_SHOWN = 8;
const version = document.documentElement.dataset.version ?? "";
const WORKER_URL = `/upload/hash-worker.js?v=${encodeURIComponent(version)}`;

const $ = (sel, root = document) => root.querySelector(sel);
const number = new Intl.NumberFormat("en-US");

let client = null;
// Bumped by every sign-in and sign-out: an answer for an older one is dropped, so a slow
// response can never repaint a signed-out page.
let generation = 0;
let nextKey = 1;
const items = new Map(); // key → upload item (see enqueue)
const waiting = [];
let running = 0;
let filesCursor = null;
let continuing = null; // the unfinished upload whose file is being picked
let refreshTimer = null;

// ---------------------------------------------------------------------------------------------
// Sign-in.

function showSignIn(message) {
  generation += 1;
  client = null;
  document.body.dataset.signedIn = "false";
  delete document.body.dataset.loaded;
  $("#app").hidden = true;
  $("#sign-out").hidden = true;
  $("#scope").hidden = true;
  $("#status").textContent = "";
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  $("#api-key").focus();
}

async function start() {
  const mine = ++generation;
  const key = storedKey();
  if (!key) return showSignIn();
  const c = new JettyClient({ apiKey: key, workerUrl: WORKER_URL });
  let quota;
  try {
    quota = await c.quota();
  } catch (e) {
    if (mine !== generation) return;
    if (e?.status === 401) {
      forgetKey();
      return showSignIn("That key was not accepted.");
    }
    return showSignIn(e?.kind === "network" ? "Could not reach the server." : `The server answered: ${e?.message ?? e}`);
  }
  if (mine !== generation) return;
  client = c;
  $("#sign-in").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  const scope = $("#scope");
  scope.hidden = false;
  const storage = quota?.storage;
  scope.textContent = storage ? `${quota.tier} · ${formatBytes(storage.used_bytes)} of ${formatBytes(storage.quota_bytes)}` : String(quota?.tier ?? "");
  document.body.dataset.signedIn = "true";
  await loadLists(mine);
}

bindSignIn(showSignIn, start);

$("#sign-out").addEventListener("click", () => {
  // Uploads stop but keep their sessions: signing in again and picking the files continues them.
  for (const item of items.values()) item.upload?.abort({ keepSession: true });
  items.clear();
  waiting.length = 0;
  running = 0;
  $("#queue").replaceChildren();
  $("#queue-panel").hidden = true;
  forgetKey();
  showSignIn();
});

// ---------------------------------------------------------------------------------------------
// Lists: unfinished uploads and recent files.

async function loadLists(mine = generation) {
  await Promise.all([loadUnfinished(mine), loadFiles(mine, true)]);
  if (mine === generation) {
    document.body.dataset.loaded = "true";
    $("#status").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }
}

function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => client && loadLists(), 300);
}

function listError(el, e, what) {
  el.hidden = false;
  el.textContent =
    e?.status === 404 && e?.code === "not_found"
      ? `This server does not list ${what}.`
      : `Could not load ${what}: ${e?.message ?? e}`;
}

function fromTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

/** Sessions being sent from this tab right now (they are shown in "This session"). */
function activeHere() {
  const ids = new Set();
  for (const item of items.values()) {
    const s = item.upload?.state;
    if (item.fileId && s && s !== "done" && s !== "error" && s !== "aborted") ids.add(item.fileId);
  }
  return ids;
}

async function loadUnfinished(mine) {
  const c = client;
  const error = $("#unfinished-error");
  let page;
  let local = [];
  try {
    [page, local] = await Promise.all([c.listUploads({ limit: 50 }), c.localRecords()]);
  } catch (e) {
    if (mine !== generation) return;
    $("#unfinished").replaceChildren();
    $("#unfinished-empty").hidden = true;
    listError(error, e, "unfinished uploads");
    return;
  }
  if (mine !== generation) return;
  error.hidden = true;
  const here = activeHere();
  const mineLocal = new Set(local.map((r) => r.fileId));
  const uploads = page.items.filter((u) => !here.has(u.fileId));
  $("#unfinished-empty").hidden = uploads.length > 0;
  const more = $("#unfinished-more");
  const extra = uploads.length - UNFINISHED_SHOWN;
  more.hidden = extra <= 0 || $("#unfinished").classList.contains("all");
  more.textContent = `Show ${extra} more`;
  $("#unfinished").replaceChildren(
    ...uploads.map((u, i) => {
      const li = fromTemplate("unfinished-item");
      if (i >= UNFINISHED_SHOWN) li.dataset.extra = "true";
      li.dataset.fileId = u.fileId;
      li.dataset.name = u.fileName ?? "";
      li.dataset.size = String(u.fileSize);
      li.dataset.counters = JSON.stringify(u);
      $(".name", li).textContent = u.fileName || u.fileId;
      $(".name", li).title = u.fileId;
      $(".size", li).textContent = formatBytes(u.fileSize);
      const bar = $("progress", li);
      bar.value = u.partCount ? Math.round((1000 * u.partsDone) / u.partCount) : 0;
      const bits = [
        `${number.format(u.partsDone)} of ${number.format(u.partCount)} parts`,
        `started ${new Date(u.createdAt).toLocaleString()}`,
        `expires ${new Date(u.expiresAt).toLocaleString()}`,
      ];
      if (mineLocal.has(u.fileId)) bits.push("started in this browser");
      if (!u.contentId && !u.fileHash) {
        // Stopped before its content was named (a large file is sent while it is hashed):
        // nothing says which bytes it holds, so it cannot be matched to a file.
        bits.push("stopped before it was identified: discard it and upload the file again");
        $('button[data-action="continue"]', li).disabled = true;
      }
      $(".stats", li).textContent = bits.join(" · ");
      return li;
    }),
  );
}

async function loadFiles(mine, reset) {
  const c = client;
  const error = $("#files-error");
  let page;
  try {
    page = await c.listFiles({ limit: FILES_PAGE, cursor: reset ? undefined : filesCursor ?? undefined });
  } catch (e) {
    if (mine !== generation) return;
    if (reset) $("#files").replaceChildren();
    $("#files-empty").hidden = true;
    $("#files-more").hidden = true;
    listError(error, e, "files");
    return;
  }
  if (mine !== generation) return;
  error.hidden = true;
  filesCursor = page.nextCursor;
  const rows = page.items.map((f) => {
    const li = fromTemplate("file-item");
    li.dataset.fileId = f.id;
    li.dataset.name = f.name ?? "";
    li.dataset.url = f.url;
    li.dataset.sha256 = f.sha256;
    $(".name", li).textContent = f.name || f.id;
    $(".name", li).title = f.id;
    $(".size", li).textContent = formatBytes(f.size);
    $(".stats", li).textContent = `${new Date(f.createdAt).toLocaleString()} · ${f.contentType || "application/octet-stream"} · ${f.id}`;
    return li;
  });
  if (reset) $("#files").replaceChildren(...rows);
  else $("#files").append(...rows);
  $("#files-empty").hidden = $("#files").children.length > 0;
  $("#files-more").hidden = !filesCursor;
}

$("#files-more").addEventListener("click", () => loadFiles(generation, false));
$("#unfinished-more").addEventListener("click", () => {
  $("#unfinished").classList.add("all");
  $("#unfinished-more").hidden = true;
});
$("#refresh").addEventListener("click", () => loadLists());

/** A signed, expiring download link for a stored file, shown next to the button. */
async function showLink(li, fileId) {
  const button = $('[data-action="link"]', li);
  const a = $('a[data-role="link"]', li);
  button.disabled = true;
  try {
    const link = await client.createLink(fileId, { ttlSeconds: 3600 });
    a.href = link.url;
    a.textContent = `Download link (1 h, via ${link.edgeId})`;
    a.hidden = false;
    li.dataset.link = link.url;
  } catch (e) {
    a.hidden = false;
    a.removeAttribute("href");
    a.textContent = `No link: ${e?.message ?? e}`;
  } finally {
    button.disabled = false;
  }
}

$("#files").addEventListener("click", (event) => {
  const button = event.target.closest('[data-action="link"]');
  if (!button) return;
  const li = button.closest("li");
  showLink(li, li.dataset.fileId);
});

$("#unfinished").addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || !client) return;
  const li = button.closest("li");
  if (button.dataset.action === "continue") {
    continuing = { fileId: li.dataset.fileId, name: li.dataset.name, size: Number(li.dataset.size), li };
    const input = $("#continue-input");
    input.value = "";
    input.click();
  } else if (button.dataset.action === "discard") {
    button.disabled = true;
    try {
      await client.abortUpload(li.dataset.fileId);
      li.remove();
      $("#unfinished-empty").hidden = $("#unfinished").children.length > 0;
    } catch (e) {
      note(li, `Could not discard it: ${e?.message ?? e}`, true);
      button.disabled = false;
    }
  }
});

$("#continue-input").addEventListener("change", (event) => {
  const file = event.target.files?.[0];
  const target = continuing;
  continuing = null;
  if (!file || !target) return;
  if (file.size !== target.size) {
    note(
      target.li,
      `${file.name} has ${number.format(file.size)} bytes; this upload is for a file of ${number.format(target.size)} bytes. Pick the same file.`,
      true,
    );
    return;
  }
  // The name may differ (renamed, another device); the SHA-256 decides.
  note(target.li, file.name === target.name ? "" : `Continuing with ${file.name}; it is checked by its SHA-256.`, false);
  target.li.remove();
  enqueue(file, { resumeFileId: target.fileId });
});

function note(li, text, isError) {
  const p = $(".message", li);
  p.textContent = text;
  p.hidden = !text;
  p.classList.toggle("error", !!isError);
}

// ---------------------------------------------------------------------------------------------
// Uploads.

function enqueue(file, opts = {}) {
  const key = String(nextKey++);
  const li = fromTemplate("upload-item");
  li.dataset.key = key;
  li.dataset.name = file.name;
  li.dataset.size = String(file.size);
  $(".name", li).textContent = file.name;
  $(".size", li).textContent = formatBytes(file.size);
  const item = { key, file, opts, li, upload: null, fileId: null, t0: 0, hashSeconds: null, hashedSeconds: null, firstPartSeconds: null, uploadSeconds: null, result: null, error: null };
  items.set(key, item);
  $("#queue").prepend(li);
  $("#queue-panel").hidden = false;
  waiting.push(item);
  render(item, null, "queued");
  pump();
}

function pump() {
  while (running < FILES_AT_ONCE && waiting.length > 0) {
    const item = waiting.shift();
    running += 1;
    begin(item);
  }
}

function begin(item) {
  const mine = generation;
  item.t0 = performance.now();
  const up = client.upload(item.file, { concurrency: PARTS_PER_FILE, ...item.opts });
  item.upload = up;
  up.on("progress", (p) => {
    // When the file was hashed through (before the session, or while its parts went out) and
    // when the first part was stored: what the bench reports.
    const secs = (performance.now() - item.t0) / 1000;
    if (item.hashedSeconds === null && p.hashedBytes >= item.file.size) item.hashedSeconds = secs;
    if (item.firstPartSeconds === null && p.partsSent > 0) item.firstPartSeconds = secs;
    render(item, p);
  });
  up.on("state", (s) => {
    if (s === "starting" && item.hashSeconds === null) item.hashSeconds = (performance.now() - item.t0) / 1000;
  });
  up.on("session", (s) => {
    item.fileId = s.fileId;
    item.li.dataset.fileId = s.fileId;
    // It is no longer "unfinished elsewhere": it is being sent here.
    document.querySelector(`#unfinished li[data-file-id="${CSS.escape(s.fileId)}"]`)?.remove();
  });
  up.result
    .then((r) => {
      item.result = r;
      item.uploadSeconds = (performance.now() - item.t0) / 1000 - (item.hashSeconds ?? 0);
    })
    .catch((e) => {
      item.error = e;
    })
    .finally(() => {
      if (mine !== generation) return;
      running -= 1;
      render(item, up.progress);
      pump();
      refreshSoon();
    });
}

const STATE_LABEL = {
  queued: "Waiting",
  hashing: "Hashing",
  starting: "Starting",
  uploading: "Uploading",
  paused: "Paused",
  finalizing: "Finishing",
  done: "Done",
  error: "Failed",
  aborted: "Cancelled",
};

function rate(bytes, seconds) {
  return seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : "–";
}

function render(item, p, forced) {
  const li = item.li;
  const state = forced ?? (item.result ? "done" : p?.state ?? "queued");
  li.dataset.state = state;
  $(".state", li).textContent = STATE_LABEL[state] ?? state;
  const size = item.file.size;
  const bar = $("progress", li);
  const stats = $(".stats", li);
  const hashing = state === "hashing";
  bar.classList.toggle("hashing", hashing);
  if (!p) {
    bar.value = 0;
    stats.textContent = "Waiting for another upload to finish";
  } else if (hashing) {
    bar.value = size ? Math.round((1000 * p.hashedBytes) / size) : 0;
    const secs = (performance.now() - item.t0) / 1000;
    stats.textContent = `Hashing ${formatBytes(p.hashedBytes)} of ${formatBytes(size)} · ${rate(p.hashedBytes, secs)}`;
  } else {
    bar.value = size ? Math.round((1000 * p.bytesUploaded) / size) : item.result ? 1000 : 0;
    const r = item.result;
    if (r?.duplicate) {
      stats.textContent = r.partsSent
        ? `Already stored in this account: found once hashed, after ${r.partsSent} of its parts were sent`
        : "Already stored in this account: nothing was sent";
    } else if (r) {
      const sent = r.resumed
        ? `continued: ${r.partsSent} of ${r.parts} parts sent`
        : r.partsReused
          ? `${r.partsSent} of ${r.parts} parts sent, ${r.partsReused} already stored`
          : `${r.parts} parts`;
      stats.textContent = `${formatBytes(r.size)} in ${formatDuration(r.seconds)} · ${rate(r.bytesSent, item.uploadSeconds ?? 0)} · ${sent}`;
    } else {
      const bits = [`${formatBytes(p.bytesUploaded)} of ${formatBytes(size)}`];
      if (p.partsTotal) bits.push(`${p.partsDone}/${p.partsTotal} parts`);
      // A large file is hashed while its parts go out.
      if (p.hashedBytes < size && !item.result) bits.push(`hashed ${Math.floor((100 * p.hashedBytes) / size)} %`);
      if (state === "uploading") {
        bits.push(p.speed === null ? "measuring…" : `${formatBytes(p.speed)}/s`);
        if (p.eta !== null) bits.push(`${formatDuration(p.eta)} left`);
      }
      if (p.resumed) bits.push("continued");
      stats.textContent = bits.join(" · ");
    }
    // Which edges carry the parts: bytes recorded, and (+) on their way now.
    const ids = [...new Set([...Object.keys(p.perEdge), ...(item.result ? [] : Object.keys(p.inFlight ?? {}))])];
    $(".edges", li).textContent = ids.length
      ? `via ${ids
          .map((id) => {
            const now = item.result ? 0 : p.inFlight?.[id] ?? 0;
            return `${id} ${formatBytes(p.perEdge[id] ?? 0)}${now > 0 ? ` (+${formatBytes(now)})` : ""}`;
          })
          .join(" · ")}`
      : "";
  }
  // What is wrong, if anything.
  if (item.error && state !== "aborted") {
    note(li, item.error.message ?? String(item.error), true);
  } else if (p?.offline && state !== "done") {
    note(li, "Offline: waiting for the network to come back", false);
  } else if (p?.retrying) {
    note(li, `${p.retrying.trouble}, retrying in ${Math.ceil(p.retrying.delayMs / 1000)} s`, false);
  } else if (p?.failedEdges?.length && !item.result) {
    note(li, `Moved parts off ${p.failedEdges.join(", ")} (not answering)`, false);
  } else {
    note(li, "", false);
  }
  // Controls.
  const finished = state === "done" || state === "error" || state === "aborted";
  const pause = $('[data-action="pause"]', li);
  pause.hidden = finished || state === "queued" || state === "finalizing";
  pause.textContent = item.upload?.isPaused ? "Resume" : "Pause";
  $('[data-action="cancel"]', li).hidden = finished;
  if (item.result) {
    const a = $('a[data-role="url"]', li);
    a.href = item.result.url;
    a.textContent = item.result.fileId;
    a.title = item.result.url;
    a.hidden = false;
    li.dataset.url = item.result.url;
    $('[data-action="link"]', li).hidden = false;
  }
  li.dataset.counters = JSON.stringify({
    key: item.key,
    name: item.file.name,
    size,
    state,
    fileId: item.fileId ?? p?.fileId ?? null,
    partsTotal: p?.partsTotal ?? 0,
    partsDone: p?.partsDone ?? 0,
    partsSent: p?.partsSent ?? 0,
    bytesDone: p?.bytesDone ?? 0,
    bytesUploaded: p?.bytesUploaded ?? 0,
    bytesSent: p?.bytesSent ?? 0,
    hashedBytes: p?.hashedBytes ?? 0,
    perEdge: p?.perEdge ?? {},
    inFlight: p?.inFlight ?? {},
    failedEdges: p?.failedEdges ?? [],
    offline: p?.offline ?? false,
    hashRetries: p?.hashRetries ?? 0,
    resumed: p?.resumed ?? false,
    speed: p?.speed ?? null,
    eta: p?.eta ?? null,
    hashSeconds: item.hashSeconds,
    hashedSeconds: item.hashedSeconds,
    firstPartSeconds: item.firstPartSeconds,
    // Whether the hashing ran in the Web Worker (false: it fell back to the page's thread).
    hashedInWorker: client?.hasher?.fellBack === false,
    uploadSeconds: item.uploadSeconds,
    duplicate: item.result?.duplicate ?? false,
    url: item.result?.url ?? null,
    sha256: item.result?.sha256 ?? null,
    error: item.error && state !== "aborted" ? { code: item.error.code ?? null, kind: item.error.kind ?? null, message: item.error.message ?? String(item.error) } : null,
  });
}

$("#queue").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const li = button.closest("li");
  const item = items.get(li.dataset.key);
  if (!item) return;
  switch (button.dataset.action) {
    case "pause":
      if (!item.upload) return;
      if (item.upload.isPaused) item.upload.resume();
      else item.upload.pause();
      render(item, item.upload.progress);
      break;
    case "cancel":
      if (item.upload) {
        item.upload.abort();
      } else {
        waiting.splice(waiting.indexOf(item), 1);
        render(item, null, "aborted");
      }
      break;
    case "link":
      if (item.result) showLink(li, item.result.fileId);
      break;
  }
});

// ---------------------------------------------------------------------------------------------
// Picking and dropping files.

function addFiles(files) {
  if (!client) return;
  for (const f of files) enqueue(f);
}

$("#file-input").addEventListener("change", (event) => {
  addFiles([...(event.target.files ?? [])]);
  event.target.value = "";
});

const zone = $("#drop-zone");
// A file dropped anywhere else must not make the browser leave the page to show it.
for (const type of ["dragover", "drop"]) document.addEventListener(type, (e) => e.preventDefault());
zone.addEventListener("dragenter", () => zone.classList.add("over"));
zone.addEventListener("dragover", (e) => {
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  const dt = e.dataTransfer;
  if (!dt) return;
  const files = [];
  let folders = 0;
  const entries = [...(dt.items ?? [])];
  if (entries.length > 0) {
    for (const it of entries) {
      if (it.kind !== "file") continue;
      if (it.webkitGetAsEntry?.()?.isDirectory) {
        folders += 1;
        continue;
      }
      const f = it.getAsFile();
      if (f) files.push(f);
    }
  } else {
    files.push(...dt.files);
  }
  const message = $("#drop-message");
  message.hidden = folders === 0;
  message.textContent = folders ? `Folders are not uploaded (${folders} skipped); drop the files inside them.` : "";
  addFiles(files);
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && client) loadLists();
});
// Leaving with uploads under way asks first (the browser's own dialog; it shows only after the
// user interacted with the page). Nothing is lost either way: picking the files again later
// continues their sessions.
window.addEventListener("beforeunload", (e) => {
  const underWay = waiting.length > 0 || [...items.values()].some((i) => i.upload && !["done", "error", "aborted"].includes(i.upload.state));
  if (!underWay) return;
  e.preventDefault();
  e.returnValue = "";
});
// Lists that failed to load while the device was offline load again when it is back (the
// uploads themselves go on by themselves: the SDK waits for the network).
window.addEventListener("online", () => {
  if (client) loadLists();
});

start();
