// Upload driven end to end against the fake fleet: the whole flow (hash, start or resume,
// weighted sending, failover, backoff, re-sends, pause, abort, finalize).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { JettyClient, type ClientOptions } from "../src/client.js";
import { InProcessHasher } from "../src/hash.js";
import { MemoryRecordStore } from "../src/resume.js";
import { seededRandom } from "../src/retry.js";
import { UNNAMED_PARTS, movingUntil, type UploadOptions } from "../src/upload.js";
import type { JettyError } from "../src/errors.js";
import { BASE, FakeFleet, contentIdOf } from "./fake-fleet.js";
import { ManualConnectivity } from "./manual-connectivity.js";
import { checkedConnectivity, type Connectivity } from "../src/connectivity.js";

const fast = { retry: { baseMs: 1, capMs: 5, budgetMs: 2000 } } satisfies UploadOptions;

function setup(fleet = new FakeFleet(), store = new MemoryRecordStore(), extra: Partial<ClientOptions> = {}) {
  const client = new JettyClient({
    baseUrl: BASE,
    apiKey: "key",
    fetch: fleet.fetch,
    transport: fleet.transport,
    hasher: new InProcessHasher(),
    store,
    random: seededRandom(1),
    defaults: fast,
    ...extra,
  });
  return { fleet, client, store };
}

function file(size: number, name = "data.bin") {
  const bytes = randomBytes(size);
  return { bytes, file: new File([bytes], name, { lastModified: 1_700_000_000_000 }), sha: createHash("sha256").update(bytes).digest("hex") };
}

const count = (xs: Array<[string, number]>, edge: string) => xs.filter(([e]) => e === edge).length;

test("a file goes over the edges by weight, is finalized, and reports its progress", async () => {
  const { fleet, client, store } = setup();
  const { file: f, sha } = file(100 * 1024 + 17);
  const up = client.upload(f, { concurrency: 10 });
  const states: string[] = [];
  up.on("state", (s) => states.push(s));
  let last = up.progress;
  up.on("progress", (p) => (last = p));
  const r = await up.result;
  assert.equal(r.sha256, sha);
  assert.equal(r.size, f.size);
  assert.equal(r.parts, 101);
  assert.equal(r.partsSent, 101);
  assert.equal(r.duplicate, false);
  assert.equal(r.resumed, false);
  assert.deepEqual(states, ["starting", "uploading", "finalizing", "done"]);
  assert.equal(fleet.sent.length, 101, "each part once");
  // Slots by weight 5:3:2 over 10, all pulling from one queue (equal speeds here).
  const shares = ["sfo-1", "lax-1", "origin-direct"].map((e) => count(fleet.stored, e));
  assert.ok(shares[0] > shares[1] && shares[1] > shares[2], `${shares}`);
  assert.equal(Object.values(r.perEdge).reduce((a, b) => a + b, 0), f.size);
  assert.equal(last.bytesDone, f.size);
  assert.equal(last.partsDone, 101);
  assert.equal(last.state, "done");
  assert.equal(last.eta, 0);
  assert.equal((await store.list()).length, 0, "the local record is gone once done");
  assert.ok(fleet.sessions.get(r.fileId)?.status === "completed");
});

test("parts are digested first and asked by content id; the whole-file hash runs meanwhile and is declared at finalize", async () => {
  const fleet = new FakeFleet();
  fleet.partSize = null; // honour the client's hint
  const { client } = setup(fleet);
  const { file: f, sha } = file(11 * 1024 * 1024 + 5);
  const passes: string[] = [];
  const hasher = client.hasher;
  (client as unknown as { hasher: unknown }).hasher = {
    hash: (b: Blob, o: { what?: string }) => {
      passes.push(o?.what ?? "both");
      return hasher.hash(b, o as never);
    },
  };
  const r = await client.upload(f, { partSize: 8 * 1024 * 1024 }).result;
  assert.equal(r.sha256, sha);
  assert.equal(r.parts, 2);
  assert.deepEqual(passes, ["parts", "whole"], "one pass for the parts, one for the whole file");
  const bytes = new Uint8Array(await f.arrayBuffer());
  const parts = [bytes.subarray(0, 8 * 1024 * 1024), bytes.subarray(8 * 1024 * 1024)].map((p) => createHash("sha256").update(p).digest("hex"));
  assert.equal(fleet.asked[0].contentId, contentIdOf(parts));
  assert.equal(fleet.asked[0].fileHash, undefined, "the session opens before the whole file is hashed");
  assert.equal(fleet.finalized[0].fileHash, sha);
  // The same bytes again: a duplicate by content id, its hash from the answer, no whole pass.
  passes.length = 0;
  const again = await client.upload(f, { partSize: 8 * 1024 * 1024 }).result;
  assert.equal(again.duplicate, true);
  assert.equal(again.sha256, sha);
  assert.equal(passes[0], "parts");
});

test("an edge that fails is reported once, skipped, and its parts go elsewhere", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ edge }) => (edge === "sfo-1" ? "network" : "ok");
  const up = client.upload(file(20 * 1024).file, { concurrency: 4 });
  const failed: string[] = [];
  up.on("edgeFailed", (e) => failed.push(e.edgeId));
  const r = await up.result;
  assert.equal(r.partsSent, 20);
  assert.deepEqual(fleet.reports, ["sfo-1"]);
  assert.deepEqual(failed, ["sfo-1"]);
  assert.equal(count(fleet.stored, "sfo-1"), 0);
  assert.ok(count(fleet.sent, "sfo-1") <= 2, "at most the first round of its slots");
  assert.deepEqual(up.progress.failedEdges, ["sfo-1"]);
});

test("a 500 and a non-JSON 5xx blame the edge; store failures blame nobody and are waited out", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ edge, attempt, part }) => {
    if (edge === "lax-1" && part % 2 === 0) return { status: 502, body: "<html>bad gateway</html>" };
    if (attempt <= 2) return { status: 503, code: "store_unavailable" };
    return "ok";
  };
  const up = client.upload(file(10 * 1024).file, { concurrency: 3 });
  const notices: Array<string | null> = [];
  up.on("retry", (n) => notices.push(n ? n.trouble : null));
  const r = await up.result;
  assert.equal(r.partsSent, 10);
  assert.deepEqual(fleet.reports, ["lax-1"], "only the edge that failed by itself");
  assert.ok(notices.includes("store unavailable"));
  assert.equal(notices[notices.length - 1], null, "the notice is cleared once parts get through");
  assert.equal(up.progress.retrying, null);
});

test("in a store outage no part body is sent again until an edge says the store is back", async () => {
  const { fleet, client } = setup();
  // The store fails the next six requests that reach it: the two parts in flight, then checks.
  let reached = 0;
  fleet.behaviour = () => (++reached <= 6 ? { status: 503, code: "store_unavailable" } : "ok");
  const up = client.upload(file(8 * 1024).file, { concurrency: 2 });
  const r = await up.result;
  assert.equal(r.partsSent, 8);
  assert.equal(fleet.sent.length, 2 + 8, "the two parts in flight, then each part once");
  assert.ok(fleet.checks.length >= 5, `four failed checks and one that found the store: ${fleet.checks.length}`);
  assert.ok(r.bytesSent <= 8 * 1024 + 2 * 1024);
  assert.deepEqual(fleet.reports, []);
});

test("a new version sends only its changed parts: the others are copied from the stored file", async () => {
  const { fleet, client } = setup();
  const { file: f } = file(10 * 1024);
  await client.upload(f).result;
  const bytes = new Uint8Array(await f.arrayBuffer());
  bytes[4 * 1024 + 7] ^= 0xff; // part 5 of 10 changed
  const sent = fleet.sent.length;
  const r = await client.upload(new File([bytes], "v2.bin")).result;
  assert.equal(r.duplicate, false);
  assert.equal(r.partsReused, 9);
  assert.equal(r.partsSent, 1);
  assert.deepEqual(fleet.sent.slice(sent).map(([, part]) => part), [5]);
  assert.equal(fleet.sessions.get(r.fileId)?.status, "completed");
});

test("a store outage longer than the retry budget fails the upload and keeps its session", async () => {
  const { fleet, client, store } = setup();
  fleet.behaviour = () => ({ status: 503, code: "store_unavailable" });
  const up = client.upload(file(4 * 1024).file, { concurrency: 2, retry: { baseMs: 1, capMs: 5, budgetMs: 150 } });
  await assert.rejects(up.result, (e: JettyError) => e.code === "store_unavailable" && /still failing after/.test(e.message));
  assert.equal(up.state, "error");
  assert.deepEqual(fleet.reports, []);
  assert.equal((await store.list()).length, 1, "kept, so the same upload can continue later");
});

test("a body that does not match its hash is re-read and sent again", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ part, attempt }) => (part === 1 && attempt === 1 ? { status: 422, code: "chunk_hash_mismatch" } : "ok");
  const up = client.upload(file(3 * 1024).file);
  const r = await up.result;
  assert.equal(r.partsSent, 3);
  assert.equal(up.progress.hashRetries, 1);
  assert.equal(fleet.sent.filter(([, p]) => p === 1).length, 2);
  assert.deepEqual(fleet.reports, [], "blames nobody");
  // Always mismatching: given up after a few tries, as a refusal.
  const again = setup();
  again.fleet.behaviour = ({ part }) => (part === 2 ? { status: 422, code: "chunk_hash_mismatch" } : "ok");
  await assert.rejects(again.client.upload(file(3 * 1024).file, { maxHashRetries: 2 }).result, (e: JettyError) => e.code === "chunk_hash_mismatch");
  assert.equal(again.fleet.sent.filter(([, p]) => p === 2).length, 3);
});

test("a refusal fails the upload at once", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ part }) => (part === 2 ? { status: 409, code: "session_not_active" } : "ok");
  await assert.rejects(client.upload(file(8 * 1024).file, { concurrency: 1 }).result, (e: JettyError) => e.kind === "refused" && e.code === "session_not_active");
  assert.equal(fleet.sent.length, 2);
});

test("a part with no answer by its deadline goes to another edge", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ edge }) => (edge === "lax-1" ? "hang" : "ok");
  const up = client.upload(file(6 * 1024).file, { concurrency: 3, partTimeoutMs: 100 });
  const r = await up.result;
  assert.equal(r.partsSent, 6);
  assert.deepEqual(fleet.reports, ["lax-1"]);
  assert.equal(count(fleet.stored, "lax-1"), 0);
});

test("a part whose bytes keep moving outlives its deadline and is not sent again", async () => {
  const { fleet, client } = setup();
  // Every edge takes each body over 270 ms, progress every 30 ms: well past the 150 ms deadline,
  // never 150 ms without moving.
  fleet.trickleMs = 30;
  fleet.trickleSteps = 8;
  fleet.behaviour = () => "trickle";
  const up = client.upload(file(4 * 1024).file, { concurrency: 4, partTimeoutMs: 150 });
  const r = await up.result;
  assert.equal(r.partsSent, 4);
  assert.equal(fleet.sent.length, 4, "each part sent once");
  assert.deepEqual(fleet.reports, [], "no edge blamed");
});

test("a part counts as moving until its last progress, and once all sent until its rate drains the buffers", () => {
  const MiB = 1 << 20;
  const at = (movedAt: number | null, sent: number, first: { at: number; sent: number } | null = null) =>
    movingUntil({ movedAt, firstMoved: first, sent, len: 4 * MiB });
  assert.equal(at(null, 0), null, "no progress yet");
  assert.equal(at(5000, MiB, { at: 1000, sent: MiB / 4 }), 5000, "mid-body: the last progress");
  // All 4 MiB reported sent, 3 MiB of it over 12 s (256 KiB/s): up to 1 MiB still buffered, 4 s.
  assert.equal(at(13_000, 4 * MiB, { at: 1000, sent: MiB }), 17_000);
  // At once (a fast link): nothing to wait for.
  assert.equal(at(1000, 4 * MiB, { at: 1000, sent: 4 * MiB }), 1000);
  // However slow: at most ten minutes.
  assert.equal(at(100_000, 4 * MiB, { at: 0, sent: 4 * MiB - 1 }), 700_000);
});

test("a part whose bytes stop moving is timed out a window after they stopped", async () => {
  const { fleet, client } = setup();
  // Half the body moves 60 ms in, then nothing: timed out 60 + 100 ms in, not 100 ms in.
  fleet.trickleMs = 60;
  const firstSent = new Map<number, number>();
  const resentAfter: number[] = [];
  fleet.behaviour = ({ part, attempt }) => {
    if (attempt === 1) {
      firstSent.set(part, Date.now());
      return "stallMidBody";
    }
    resentAfter.push(Date.now() - (firstSent.get(part) as number));
    return "ok";
  };
  const up = client.upload(file(2 * 1024).file, { concurrency: 2, partTimeoutMs: 100 });
  const r = await up.result;
  assert.equal(r.partsSent, 2);
  assert.equal(fleet.sent.length, 4, "each part sent again after its bytes stalled");
  assert.ok(resentAfter.every((ms) => ms >= 150), `sent again ${resentAfter} ms after the first send: a window after the bytes stopped`);
});

test("reload: the local record continues the same session, sending only the missing parts", async () => {
  const store = new MemoryRecordStore();
  const fleet = new FakeFleet();
  const { file: f, sha } = file(30 * 1024 + 1);
  // The first run stops (a tab closed) once 10 parts are stored.
  const first = setup(fleet, store).client.upload(f, { concurrency: 2 });
  first.on("progress", (p) => p.partsDone >= 10 && first.abort({ keepSession: true }));
  await assert.rejects(first.result, (e: JettyError) => e.kind === "aborted");
  assert.deepEqual(fleet.deleted, [], "the session is kept");
  const before = fleet.stored.length;
  assert.ok(before >= 10 && before < 31);
  const records = await store.list();
  assert.equal(records.length, 1);
  const bytes = new Uint8Array(await f.arrayBuffer());
  const digests = Array.from({ length: 31 }, (_, k) => createHash("sha256").update(bytes.subarray(k * 1024, (k + 1) * 1024)).digest("hex"));
  assert.equal(records[0].contentId, contentIdOf(digests), "the record names the content by its parts");
  // The same file again (same name, size, time): resumed.
  const second = setup(fleet, store).client.upload(f, { concurrency: 4 });
  const r = await second.result;
  assert.equal(r.resumed, true);
  assert.equal(r.fileId, records[0].fileId);
  assert.equal(r.partsSent, 31 - before);
  assert.equal(fleet.stored.length, 31, "no part stored twice");
  assert.equal(second.progress.partsDone, 31);
  assert.equal((await store.list()).length, 0);
});

test("another device: an open session of the same bytes (another client's part plan) is found by content and continued", async () => {
  const fleet = new FakeFleet();
  const { file: f } = file(12 * 1024);
  const first = setup(fleet).client.upload(f, { concurrency: 1 });
  first.on("progress", (p) => p.partsDone >= 5 && first.abort({ keepSession: true }));
  await assert.rejects(first.result);
  const stored = fleet.stored.length;
  // A fresh browser (no local record), the file under another name.
  const other = setup(fleet, new MemoryRecordStore());
  const renamed = new File([f], "copy.bin", { lastModified: 42 });
  const r = await other.client.upload(renamed).result;
  assert.equal(r.resumed, true);
  assert.equal(r.partsSent, 12 - stored);
  assert.ok(fleet.calls.some((c) => c === "GET /api/jetty/uploads"));
  // Without remote lookup, a new session is started.
  const third = setup(fleet, new MemoryRecordStore());
  fleet.files.clear();
  const r3 = await third.client.upload(new File([randomBytes(2048)], "x.bin"), { lookupRemote: false }).result;
  assert.equal(r3.resumed, false);
});

test("continue a named session: the file must be the one it was started with", async () => {
  const fleet = new FakeFleet();
  const { file: f } = file(6 * 1024);
  const first = setup(fleet).client.upload(f, { concurrency: 1 });
  first.on("progress", (p) => p.partsDone >= 2 && first.abort({ keepSession: true }));
  await assert.rejects(first.result);
  const fileId = [...fleet.sessions.keys()][0];
  const { client } = setup(fleet, new MemoryRecordStore());
  await assert.rejects(client.upload(file(6 * 1024).file, { resumeFileId: fileId }).result, (e: JettyError) => e.kind === "integrity");
  await assert.rejects(client.upload(file(5 * 1024).file, { resumeFileId: fileId }).result, (e: JettyError) => e.kind === "integrity" && /bytes/.test(e.message));
  const r = await client.upload(f, { resumeFileId: fileId }).result;
  assert.equal(r.fileId, fileId);
  assert.equal(r.resumed, true);
  assert.ok(r.partsSent <= 4);
});

test("the same bytes again are a duplicate: nothing is sent", async () => {
  const { fleet, client } = setup();
  const { file: f } = file(5000);
  await client.upload(f).result;
  const sent = fleet.sent.length;
  const r = await client.upload(new File([f], "again.bin")).result;
  assert.equal(r.duplicate, true);
  assert.equal(r.partsSent, 0);
  assert.equal(fleet.sent.length, sent);
});

test("pause stops sending and puts parts back; resume finishes", async () => {
  const { fleet, client } = setup();
  const up = client.upload(file(40 * 1024).file, { concurrency: 2 });
  let paused = false;
  up.on("progress", (p) => {
    if (!paused && p.partsDone >= 5) {
      paused = true;
      up.pause();
    }
  });
  while (up.state !== "paused") await new Promise((r) => setTimeout(r, 5));
  const at = fleet.sent.length;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fleet.sent.length, at, "nothing sent while paused");
  assert.equal(up.progress.speed, null);
  up.resume();
  const r = await up.result;
  assert.equal(r.partsSent, 40);
  // A part whose answer was on its way when paused is sent again (recorded once by the store).
  assert.ok(fleet.stored.length >= 40 && fleet.stored.length <= 42, `${fleet.stored.length}`);
});

test("abort discards the session and the local record", async () => {
  const { fleet, client, store } = setup();
  const up = client.upload(file(40 * 1024).file, { concurrency: 1 });
  up.on("progress", (p) => p.partsDone >= 3 && up.abort());
  await assert.rejects(up.result, (e: JettyError) => e.kind === "aborted");
  assert.equal(up.state, "aborted");
  assert.equal(fleet.deleted.length, 1);
  assert.equal((await store.list()).length, 0);
});

test("parts the coordinator says are missing at finalize are sent again", async () => {
  const { fleet, client } = setup();
  let once = true;
  fleet.finalizeHook = (s) => {
    if (!once) return null;
    once = false;
    s.parts.delete(2);
    return new Response(JSON.stringify({ error: { code: "parts_missing", message: "m", details: { missing: [2] } } }), { status: 409 });
  };
  const up = client.upload(file(4 * 1024).file);
  const r = await up.result;
  assert.equal(r.partsSent, 5);
  assert.equal(fleet.sent.filter(([, p]) => p === 2).length, 2);
});

test("an empty file has no parts and is finalized at once", async () => {
  const { fleet, client } = setup();
  const r = await client.upload(new File([], "empty")).result;
  assert.equal(r.parts, 0);
  assert.equal(r.size, 0);
  assert.equal(fleet.sent.length, 0);
});

test("list helpers read the listing endpoints", async () => {
  const { fleet, client } = setup();
  const up = client.upload(file(4 * 1024).file, { concurrency: 1 });
  up.on("progress", (p) => p.partsDone >= 1 && up.abort({ keepSession: true }));
  await assert.rejects(up.result);
  const page = await client.listUploads({ limit: 5 });
  assert.equal(page.items.length, 1);
  assert.equal(page.nextCursor, null);
  assert.equal(page.items[0].fileName, "data.bin");
  assert.ok(fleet.calls.includes("GET /api/jetty/uploads"));
});

test("an expired upload token is renewed once and the part sent again", async () => {
  const { fleet, client } = setup();
  fleet.behaviour = ({ part, attempt }) => (part <= 2 && attempt === 1 ? { status: 401, code: "upload_token_expired" } : "ok");
  const r = await client.upload(file(4 * 1024).file, { concurrency: 4 }).result;
  assert.equal(r.partsSent, 4);
  assert.equal(fleet.calls.filter((c) => c === "POST /api/jetty/resume").length, 1, "one renewal for both parts");
  assert.deepEqual(fleet.reports, []);
});

test("the coordinator down at the start is waited out within the budget", async () => {
  const fleet = new FakeFleet();
  const real = fleet.fetch;
  let down = 3;
  fleet.fetch = async (input, init) => {
    if (String(input).endsWith("/optimal-edges") && down-- > 0) throw new TypeError("fetch failed");
    return real(input, init);
  };
  const { client } = setup(fleet);
  const up = client.upload(file(2048).file);
  const notices: Array<string | null> = [];
  up.on("retry", (n) => notices.push(n ? n.trouble : null));
  const r = await up.result;
  assert.equal(r.partsSent, 2);
  assert.deepEqual(notices, ["coordinator unreachable", "coordinator unreachable", "coordinator unreachable", null]);
});

const partDigests = (bytes: Uint8Array, partSize: number) => {
  const out: string[] = [];
  for (let at = 0; at < bytes.length; at += partSize) out.push(createHash("sha256").update(bytes.subarray(at, at + partSize)).digest("hex"));
  return out;
};

test("a large new file starts at once: parts go out as they are hashed, and the content is named over the session's plan", async () => {
  const { fleet, client, store } = setup();
  const { bytes, file: f, sha } = file(200 * 1024 + 17);
  const r = await client.upload(f, { hashFirstMax: 0, concurrency: 4 }).result;
  assert.equal(r.sha256, sha);
  assert.equal(r.duplicate, false);
  assert.equal(r.parts, 201);
  assert.equal(r.partsSent, 201);
  // Opened with neither a content id nor a whole-file hash; no part was hashed twice.
  assert.equal(fleet.asked.length, 1);
  assert.equal(fleet.asked[0].contentId, undefined);
  assert.equal(fleet.asked[0].fileHash, undefined);
  assert.equal(fleet.sent.length, 201);
  // Parts were stored before the content was named, and it was named before finalize.
  const firstPart = fleet.events.findIndex((e) => e.startsWith("part "));
  const named = fleet.events.indexOf("identify");
  assert.ok(firstPart > 0 && firstPart < named && named < fleet.events.indexOf("finalize"), fleet.events.join(","));
  const id = contentIdOf(partDigests(bytes, 1024));
  assert.deepEqual(fleet.identified, [{ fileId: r.fileId, contentId: id }]);
  assert.equal(fleet.sessions.get(r.fileId)?.contentId, id);
  assert.equal(fleet.finalized[0].fileHash, sha);
  assert.equal(fleet.files.get(r.fileId)?.contentId, id);
  assert.equal((await store.list()).length, 0);
});

test("a large file whose content is stored already is a duplicate once named: sending stops, and its file is the clone", async () => {
  const { fleet, client, store } = setup();
  const { file: f, sha } = file(200 * 1024);
  await client.upload(f).result;
  const sent = fleet.sent.length;
  fleet.partDelayMs = 2; // sending is slower than hashing, as on any real link
  // Parts on their way when the upload is closed as a duplicate are refused (409) before
  // identify's answer arrives: still a duplicate, not a failure.
  fleet.identifyDelayMs = 30;
  const r = await client.upload(new File([f], "again.bin"), { hashFirstMax: 0, concurrency: 2 }).result;
  assert.equal(r.duplicate, true);
  assert.equal(r.sha256, sha);
  assert.ok(fleet.sent.length - sent <= UNNAMED_PARTS, `${fleet.sent.length - sent} of 200 parts sent before it was named`);
  assert.equal(fleet.sessions.get(r.fileId)?.status, "aborted");
  assert.equal(fleet.files.get(r.fileId)?.name, "again.bin");
  assert.equal(fleet.finalized.length, 1, "only the first upload was finalized");
  assert.equal((await store.list()).length, 0, "no local record is left");
});

test("a new version named after it started still copies the unchanged parts it had not sent yet", async () => {
  const { fleet, client } = setup();
  const { bytes, file: f } = file(200 * 1024);
  await client.upload(f).result;
  const v2 = new Uint8Array(bytes);
  v2[199 * 1024 + 3] ^= 0xff; // the last part changed
  const sent = fleet.sent.length;
  fleet.partDelayMs = 2;
  const r = await client.upload(new File([v2], "v2.bin"), { hashFirstMax: 0, concurrency: 1 }).result;
  assert.equal(r.duplicate, false);
  assert.ok(r.partsReused > 0, "parts still queued when it was named were copied");
  assert.ok(r.partsSent <= UNNAMED_PARTS + 1, `${r.partsSent} sent: the first ones before it was named, and the changed one`);
  assert.equal(r.partsReused + r.partsSent, 200);
  assert.equal(fleet.sent.length - sent, r.partsSent);
  assert.ok(fleet.sent.slice(sent).some(([, part]) => part === 200), "the changed part was sent");
  assert.equal(fleet.files.get(r.fileId)?.contentId, contentIdOf(partDigests(v2, 1024)));
});

test("a reload before a large upload was named starts afresh; after, it continues the session", async () => {
  const store = new MemoryRecordStore();
  const { fleet, client } = setup(new FakeFleet(), store);
  const { file: f, sha } = file(60 * 1024);
  // Closed (kept) before it was named: the session has no identity to check the file against.
  fleet.behaviour = () => "hang";
  const first = client.upload(f, { hashFirstMax: 0, concurrency: 1 });
  await new Promise<void>((resolve) => first.on("state", (s) => s === "uploading" && resolve()));
  first.abort({ keepSession: true });
  await first.result.catch(() => {});
  const before = first.fileId as string;
  assert.deepEqual(fleet.identified, [], "closed before it was named");
  assert.equal(fleet.sessions.get(before)?.status, "active");
  fleet.behaviour = () => "ok";
  const again = await client.upload(f, { hashFirstMax: 0 }).result;
  assert.equal(again.sha256, sha);
  assert.notEqual(again.fileId, before, "a session with no identity is not continued");
  assert.equal(again.resumed, false);
});

test("two uploads of one large new file at once: the one named second waits and ends as the other's duplicate", async () => {
  const { fleet, client } = setup();
  const { file: f, sha } = file(200 * 1024);
  fleet.partDelayMs = 2;
  const [a, b] = await Promise.all([
    client.upload(f, { hashFirstMax: 0, concurrency: 2, lookupRemote: false }).result,
    client.upload(new File([f], "twin.bin"), { hashFirstMax: 0, concurrency: 2, lookupRemote: false }).result,
  ]);
  assert.equal([a, b].filter((r) => r.duplicate).length, 1, "one stored, one its duplicate");
  assert.equal(a.sha256, sha);
  assert.equal(b.sha256, sha);
  assert.equal(fleet.finalized.length, 1);
  assert.ok(fleet.identified.length >= 3, "the second asked again after waiting");
});

/** Wraps the client's hasher: records each pass, and holds a one-read ("both") pass's answer
 * back `ms` after its parts are known (a whole-file hash slower than the link, as hash-wasm is
 * on a fast one), ending early with its signal. */
function slowWholePass(client: JettyClient, ms: number) {
  const passes: string[] = [];
  const inner = client.hasher;
  (client as unknown as { hasher: unknown }).hasher = {
    hash: async (b: Blob, o: { what?: string; signal?: AbortSignal }) => {
      passes.push(o?.what ?? "both");
      const r = await inner.hash(b, o as never);
      if ((o?.what ?? "both") === "both") {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          o?.signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(o.signal?.reason);
          });
        });
      }
      return r;
    },
  };
  return passes;
}

test("a large new file whose first parts the account does not store goes at full speed before it is named", async () => {
  const { fleet, client } = setup();
  const { file: f, sha } = file(200 * 1024);
  const passes = slowWholePass(client, 300);
  fleet.partDelayMs = 1;
  const r = await client.upload(f, { hashFirstMax: 0, concurrency: 8 }).result;
  assert.equal(r.sha256, sha);
  assert.equal(r.partsSent, 200);
  const named = fleet.events.indexOf("identify");
  const probe = fleet.events.indexOf("probe");
  assert.ok(probe >= 0 && probe < named, "its first parts were looked up before it was named");
  const before = fleet.events.slice(0, named).filter((e) => e.startsWith("part ")).length;
  assert.ok(before > UNNAMED_PARTS * 4, `${before} parts stored before it was named`);
  assert.deepEqual(passes, ["both"], "one read hashed the parts and the whole file");
});

test("a large file another device stored is a duplicate after at most a few parts, named without hashing the whole file", async () => {
  const { fleet, client } = setup();
  const { file: f, sha } = file(200 * 1024);
  await client.upload(f).result;
  const before = fleet.sent.length;
  const passes = slowWholePass(client, 60_000);
  fleet.partDelayMs = 1;
  const r = await client.upload(new File([f], "from-the-phone.bin"), { hashFirstMax: 0, concurrency: 8 }).result;
  assert.equal(r.duplicate, true);
  assert.equal(r.sha256, sha, "the stored file's hash, its content named by the parts");
  assert.ok(fleet.sent.length - before <= UNNAMED_PARTS, `${fleet.sent.length - before} parts sent`);
  assert.deepEqual(passes, ["both", "parts"], "the one-read pass gave way to the parts alone; no whole-file pass");
  assert.equal(fleet.finalized.length, 1, "only the first upload was finalized");
});

test("a new version whose start is stored is named by its parts first, then hashed whole for finalize", async () => {
  const { fleet, client } = setup();
  const { bytes, file: f } = file(200 * 1024);
  await client.upload(f).result;
  const v2 = new Uint8Array(bytes);
  v2[150 * 1024] ^= 0xff; // part 151 changed
  const sha = createHash("sha256").update(v2).digest("hex");
  const passes = slowWholePass(client, 60_000);
  fleet.partDelayMs = 1;
  const r = await client.upload(new File([v2], "v2.bin"), { hashFirstMax: 0, concurrency: 8 }).result;
  assert.equal(r.duplicate, false);
  assert.equal(r.sha256, sha);
  assert.deepEqual(passes, ["both", "parts", "whole"]);
  assert.ok(r.partsSent <= UNNAMED_PARTS + 1, `${r.partsSent} parts sent`);
  assert.equal(r.partsReused + r.partsSent, 200);
  assert.equal(fleet.finalized.at(-1)?.fileHash, sha);
  assert.equal(fleet.files.get(r.fileId)?.contentId, contentIdOf(partDigests(v2, 1024)));
});

test("a duplicate named by its parts whose answer carries no hash is hashed whole once for its result", async () => {
  const { fleet, client } = setup();
  const { file: f, sha } = file(200 * 1024);
  await client.upload(f).result;
  fleet.duplicateWithoutHash = true;
  const passes = slowWholePass(client, 60_000);
  const r = await client.upload(new File([f], "again.bin"), { hashFirstMax: 0, concurrency: 8 }).result;
  assert.equal(r.duplicate, true);
  assert.equal(r.sha256, sha);
  assert.deepEqual(passes, ["both", "parts", "whole"]);
});

/** A client on a device whose network the test switches off and on. */
function offlineSetup(budgetMs: number, conn?: Connectivity, fleet = new FakeFleet()) {
  fleet.partDelayMs = 5;
  // The device the test switches, returned as `conn` (not used when a `conn` is given).
  const device = new ManualConnectivity();
  const { client } = setup(fleet, new MemoryRecordStore(), {
    connectivity: conn ?? device,
    defaults: { retry: { baseMs: 1, capMs: 5, budgetMs } },
  });
  return { fleet, conn: device, client };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`still waiting after ${ms} ms for ${cond}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

test("an offline device is waited out past the retry budget: nothing is sent meanwhile and no edge is blamed", { timeout: 10_000 }, async () => {
  const { fleet, conn, client } = offlineSetup(100);
  // No network, no answer: every request fails while the device is offline.
  fleet.behaviour = () => (conn.online() ? "ok" : "network");
  const { file: f, sha } = file(40 * 1024);
  const up = client.upload(f, { concurrency: 4 });
  const notices: Array<string | null> = [];
  up.on("retry", (n) => notices.push(n ? n.trouble : null));
  await until(() => up.progress.partsDone >= 5);
  conn.set(false);
  await new Promise((r) => setTimeout(r, 20));
  const sentOffline = fleet.sent.length;
  await new Promise((r) => setTimeout(r, 400)); // four times the budget
  assert.equal(up.state, "uploading", "not failed");
  assert.equal(up.progress.offline, true);
  assert.deepEqual(up.progress.retrying, { trouble: "offline", delayMs: 0 });
  assert.equal(fleet.sent.length, sentOffline, "no part sent while offline");
  conn.set(true);
  const r = await up.result;
  assert.equal(r.sha256, sha);
  assert.equal(r.partsSent, 40);
  assert.deepEqual(fleet.reports, [], "no edge reported");
  assert.deepEqual(up.progress.failedEdges, []);
  assert.deepEqual(notices, ["offline", null]);
  assert.equal(up.progress.offline, false);
});

test("edges blamed just before the device said it was offline carry their share again once it is back", { timeout: 10_000 }, async () => {
  const { fleet, conn, client } = offlineSetup(60_000);
  let down = false;
  fleet.behaviour = () => (down ? "network" : "ok");
  const up = client.upload(file(60 * 1024).file, { concurrency: 6 });
  await until(() => up.progress.partsDone >= 5);
  // The connections die before the browser fires "offline": those failures blame edges.
  down = true;
  await until(() => up.progress.failedEdges.length === 3);
  conn.set(false);
  await new Promise((r) => setTimeout(r, 20));
  down = false;
  const storedBefore = fleet.stored.length;
  conn.set(true);
  const r = await up.result;
  assert.equal(r.partsSent, 60);
  const after = fleet.stored.slice(storedBefore);
  const shares = ["sfo-1", "lax-1", "origin-direct"].map((e) => count(after, e));
  assert.ok(shares.every((n) => n > 0), `every edge carried parts after the network came back: ${shares}`);
  assert.ok(shares[0] > shares[2], `by weight again: ${shares}`);
});

test("the coordinator unreachable while offline is waited for past the budget, then the upload finishes", { timeout: 10_000 }, async () => {
  const conn = new ManualConnectivity();
  const fleet = new FakeFleet();
  const real = fleet.fetch;
  fleet.fetch = async (input, init) => {
    if (!conn.online()) throw new TypeError("Failed to fetch");
    return real(input, init);
  };
  const { client } = offlineSetup(50, conn, fleet);
  conn.set(false);
  const up = client.upload(file(3 * 1024).file);
  const notices: Array<string | null> = [];
  up.on("retry", (n) => notices.push(n ? n.trouble : null));
  await new Promise((r) => setTimeout(r, 300));
  assert.notEqual(up.state, "error", "not failed");
  assert.equal(fleet.sessions.size, 0, "no session opened yet");
  assert.equal(up.progress.offline, true);
  conn.set(true);
  const r = await up.result;
  assert.equal(r.partsSent, 3);
  assert.deepEqual(notices, ["offline", null]);
});

test("back online while paused: the offline notice goes at once, and resume finishes", { timeout: 10_000 }, async () => {
  const { fleet, conn, client } = offlineSetup(60_000);
  fleet.behaviour = () => (conn.online() ? "ok" : "network");
  const up = client.upload(file(30 * 1024).file, { concurrency: 3 });
  await until(() => up.progress.partsDone >= 3);
  conn.set(false);
  await until(() => up.progress.retrying?.trouble === "offline");
  up.pause();
  await until(() => up.state === "paused");
  conn.set(true);
  await until(() => up.progress.retrying === null);
  assert.equal(up.progress.offline, false);
  assert.equal(up.state, "paused");
  up.resume();
  const r = await up.result;
  assert.equal(r.partsSent, 30);
  assert.equal(up.progress.retrying, null);
});

test("a device stuck saying it is offline does not hold an upload forever: a probe finds the network", { timeout: 10_000 }, async () => {
  const device = new ManualConnectivity();
  device.set(false); // wrong: the fleet answers
  const fleet = new FakeFleet();
  const probes: number[] = [];
  const conn = checkedConnectivity(device, async () => (probes.push(Date.now()), true), 50);
  const { client } = offlineSetup(60_000, conn, fleet);
  const up = client.upload(file(4 * 1024).file);
  const r = await up.result;
  assert.equal(r.partsSent, 4);
  assert.equal(probes.length, 1);
  assert.equal(up.progress.offline, false);
});
