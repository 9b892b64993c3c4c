// The plugin in a real @uppy/core against the SDK's in-memory fleet (web/sdk/test/fake-fleet.ts):
// what Uppy sees (progress, success with the SDK's result, errors carrying the SDK's code) and
// what Uppy's controls do to the uploads (pause/resume per file and all, remove, cancel, retry,
// the files-at-once limit, a session left by an uninstalled plugin continued by a new Uppy).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import Uppy from "@uppy/core";
import { InProcessHasher, MemoryRecordStore } from "../../sdk/src/index.ts";
import { seededRandom } from "../../sdk/src/retry.ts";
import { BASE, FakeFleet } from "../../sdk/test/fake-fleet.ts";
import JettySpeed, { type JettySpeedOptions } from "../src/index.ts";

const quiet = { debug() {}, warn() {}, error() {} };

function setup(opts: Partial<JettySpeedOptions> = {}, fleet = new FakeFleet(), store = new MemoryRecordStore()) {
  // Uppy hides its error notes after `infoTimeout`: short, so no timer outlives a test.
  const uppy = new Uppy({ logger: quiet, infoTimeout: 10 });
  uppy.use(JettySpeed, {
    baseUrl: BASE,
    apiKey: "key",
    // The fleet plans 1 KiB parts; asking for them keeps to one optimal-edges call per file.
    uploadOptions: { partSize: 1024, retry: { baseMs: 1, capMs: 5, budgetMs: 2000 } },
    ...opts,
    clientOptions: { fetch: fleet.fetch, transport: fleet.transport, hasher: new InProcessHasher(), store, random: seededRandom(1) },
  });
  const ev = {
    progress: [] as Array<{ id: string; bytesUploaded: number; bytesTotal: number | null }>,
    errors: [] as Array<{ id?: string; error: { message: string; code?: string }; status?: number }>,
    preprocess: 0,
    preprocessDone: 0,
  };
  uppy.on("upload-progress", (f, p) => ev.progress.push({ id: f!.id, bytesUploaded: p.bytesUploaded, bytesTotal: p.bytesTotal }));
  uppy.on("upload-error", (f, error, r) => ev.errors.push({ id: f?.id, error: error as { message: string; code?: string }, status: r?.status }));
  uppy.on("preprocess-progress", () => (ev.preprocess += 1));
  uppy.on("preprocess-complete", () => (ev.preprocessDone += 1));
  return { uppy, fleet, store, ev };
}

function file(size: number, name = "data.bin") {
  const bytes = randomBytes(size);
  return { file: new File([bytes], name, { lastModified: 1_700_000_000_000 }), sha: createHash("sha256").update(bytes).digest("hex") };
}

function add(uppy: Uppy, f: File): string {
  return uppy.addFile({ name: f.name, type: "application/octet-stream", data: f });
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: () => boolean, label: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await tick(2);
  }
}
/** The session the fleet opened for a file name. */
const sessionOf = (fleet: FakeFleet, name: string) => [...fleet.sessions.values()].find((s) => s.fileName === name);

test("a file added to Uppy is uploaded: progress, then success with the SDK's result and the URL", async () => {
  const { uppy, fleet, ev } = setup();
  const { file: f, sha } = file(100 * 1024 + 17);
  const id = add(uppy, f);
  const result = await uppy.upload();
  assert.ok(result);
  assert.deepEqual(result.failed, []);
  assert.equal(result.successful?.length, 1);
  const done = result.successful![0];
  const body = done.response?.body as Record<string, unknown>;
  const stored = fleet.files.get(body.fileId as string);
  assert.ok(stored, "the fleet stored the file");
  assert.equal(stored.sha256, sha);
  assert.equal(stored.size, f.size);
  assert.equal(done.response?.status, 200);
  assert.deepEqual(
    [body.sha256, body.size, body.duplicate, body.resumed, body.parts, body.partsSent],
    [sha, f.size, false, false, 101, 101],
  );
  assert.equal(done.uploadURL, `${BASE}/api/files/${body.fileId}`);
  assert.equal(done.uploadURL, body.url);
  // Uppy's own view of the file.
  const state = uppy.getFile(id);
  assert.equal(state.progress.uploadComplete, true);
  assert.equal(state.progress.percentage, 100);
  assert.equal(state.progress.preprocess, undefined, "the hashing indicator is cleared");
  assert.ok(ev.progress.length > 1, "progress was reported");
  assert.ok(ev.progress.every((p) => p.id === id && p.bytesTotal === f.size && p.bytesUploaded <= f.size));
  assert.equal(ev.progress.at(-1)?.bytesUploaded, f.size);
  assert.equal(ev.preprocess > 0, ev.preprocessDone > 0, "a hashing indicator shown is also cleared");
  assert.deepEqual(ev.errors, []);
});

test("a wrong API key fails the file with upload-error carrying the SDK's error code", async () => {
  const { uppy, fleet, ev } = setup({ apiKey: "not-the-key" });
  const id = add(uppy, file(10 * 1024).file);
  const result = await uppy.upload();
  assert.deepEqual(result?.successful, []);
  assert.deepEqual(result?.failed?.map((f) => f.id), [id]);
  assert.equal(ev.errors.length, 1);
  const [{ error, status }] = ev.errors;
  assert.match(error.message, /\[invalid_api_key\]$/);
  assert.equal(error.code, "invalid_api_key");
  assert.equal(status, 401);
  assert.match(uppy.getFile(id).error ?? "", /invalid_api_key/);
  assert.equal(fleet.sessions.size, 0);
});

test("the API key may come from a function, asked when a file starts", async () => {
  let asked = 0;
  const { uppy } = setup({ apiKey: async () => (asked++, "key") });
  add(uppy, file(4 * 1024, "a.bin").file);
  add(uppy, file(4 * 1024, "b.bin").file);
  const result = await uppy.upload();
  assert.equal(result?.successful?.length, 2);
  assert.equal(asked, 2);
});

test("the file is stored under Uppy's name for it: a renamed file, a Blob added with a name", async () => {
  const { uppy, fleet } = setup();
  const renamed = add(uppy, file(3 * 1024, "original.bin").file);
  uppy.setFileMeta(renamed, { name: "renamed.bin" });
  const bytes = randomBytes(2 * 1024);
  uppy.addFile({ name: "from-a-blob.bin", type: "application/x-test", data: new Blob([bytes], { type: "application/x-test" }) });
  const result = await uppy.upload();
  assert.equal(result?.successful?.length, 2);
  // (Each name asked twice: the fleet's 1 KiB parts answer `part_size_changed` first.)
  assert.deepEqual([...new Set(fleet.asked.map((a) => a.fileName))].sort(), ["from-a-blob.bin", "renamed.bin"]);
  const blob = fleet.asked.find((a) => a.fileName === "from-a-blob.bin");
  assert.equal(blob?.contentType, "application/x-test");
  const body = result?.successful?.find((f) => f.name === "from-a-blob.bin")?.response?.body as Record<string, unknown>;
  assert.equal(body.sha256, createHash("sha256").update(bytes).digest("hex"));
});

test("pausing a file in Uppy stops its parts; resuming finishes it", async () => {
  const { uppy, fleet } = setup({ concurrency: 2 });
  const { file: f, sha } = file(60 * 1024);
  const id = add(uppy, f);
  let paused = false;
  uppy.on("upload-progress", (_f, p) => {
    if (!paused && p.bytesUploaded >= 5 * 1024) {
      paused = true;
      assert.equal(uppy.pauseResume(id), true);
    }
  });
  const running = uppy.upload();
  await until(() => paused, "the pause");
  await tick(30);
  const at = fleet.sent.length;
  await tick(100);
  assert.equal(fleet.sent.length, at, "nothing sent while paused");
  assert.ok(at < 60, `${at} parts sent before the pause`);
  assert.equal(uppy.pauseResume(id), false);
  const result = await running;
  const body = result?.successful?.[0]?.response?.body as Record<string, unknown>;
  assert.equal(fleet.files.get(body.fileId as string)?.sha256, sha);
  assert.equal(body.parts, 60);
});

test("pause-all and resume-all pause and resume every file", async () => {
  const { uppy, fleet } = setup({ concurrency: 1 });
  add(uppy, file(40 * 1024, "a.bin").file);
  add(uppy, file(40 * 1024, "b.bin").file);
  let paused = false;
  uppy.on("upload-progress", (_f, p) => {
    if (!paused && p.bytesUploaded >= 4 * 1024) {
      paused = true;
      uppy.pauseAll();
    }
  });
  const running = uppy.upload();
  await until(() => paused, "the pause");
  await tick(30);
  const at = fleet.sent.length;
  await tick(100);
  assert.equal(fleet.sent.length, at, "nothing sent while paused");
  uppy.resumeAll();
  const result = await running;
  assert.equal(result?.successful?.length, 2);
  assert.equal(fleet.files.size, 2);
});

/** Records when each file's session opens and when it is finalized, by file name. */
function steps(fleet: FakeFleet): string[] {
  const order: string[] = [];
  const inner = fleet.fetch;
  fleet.fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    const body = init?.body ? JSON.parse(String(init.body)) : null;
    // Asked again after `part_size_changed`: one step.
    if (path === "/api/jetty/optimal-edges" && order.at(-1) !== `start ${body.fileName}`) order.push(`start ${body.fileName}`);
    const answer = await inner(input, init);
    if (path === "/api/edge/finalize-upload") order.push(`end ${fleet.sessions.get(body.fileId)?.fileName}`);
    return answer;
  };
  return order;
}

test("`limit` files go at once, and a paused file gives its place to the next", async () => {
  const fleet = new FakeFleet();
  const order = steps(fleet);
  const { uppy } = setup({ limit: 1, concurrency: 2 }, fleet);
  for (const name of ["a.bin", "b.bin", "c.bin"]) add(uppy, file(20 * 1024, name).file);
  const result = await uppy.upload();
  assert.equal(result?.successful?.length, 3);
  // One at a time: each session opens after the previous one finalized.
  assert.deepEqual(order, ["start a.bin", "end a.bin", "start b.bin", "end b.bin", "start c.bin", "end c.bin"]);

  // Without a limit they overlap.
  const free = new FakeFleet();
  const overlap = steps(free);
  const unlimited = setup({ limit: 0, concurrency: 2 }, free);
  for (const name of ["a.bin", "b.bin", "c.bin"]) add(unlimited.uppy, file(20 * 1024, name).file);
  await unlimited.uppy.upload();
  assert.deepEqual(overlap.slice(0, 3).sort(), ["start a.bin", "start b.bin", "start c.bin"], `${overlap}`);

  const second = setup({ limit: 1, concurrency: 1 });
  const a = add(second.uppy, file(40 * 1024, "a.bin").file);
  add(second.uppy, file(8 * 1024, "b.bin").file);
  let paused = false;
  second.uppy.on("upload-progress", (f, p) => {
    if (!paused && f?.id === a && p.bytesUploaded >= 4 * 1024) {
      paused = true;
      second.uppy.pauseResume(a);
    }
  });
  second.uppy.on("upload-success", (f) => {
    // b finishes while a is paused; then a is resumed.
    if (f?.id !== a) {
      assert.equal(second.uppy.getFile(a).isPaused, true);
      assert.equal(second.fleet.files.size, 1);
      second.uppy.pauseResume(a);
    }
  });
  const both = await second.uppy.upload();
  assert.equal(both?.successful?.length, 2);
  assert.ok(paused);
});

test("removing a file mid-upload aborts it and discards its session; the others finish", async () => {
  const { uppy, fleet } = setup({ concurrency: 1 });
  const a = add(uppy, file(40 * 1024, "a.bin").file);
  add(uppy, file(20 * 1024, "b.bin").file);
  let removed = false;
  uppy.on("upload-progress", (f, p) => {
    if (!removed && f?.id === a && p.bytesUploaded >= 4 * 1024) {
      removed = true;
      uppy.removeFile(a);
    }
  });
  const result = await uppy.upload();
  assert.ok(removed);
  assert.deepEqual(result?.successful?.map((f) => f.name), ["b.bin"]);
  await until(() => fleet.deleted.length > 0, "the session's deletion");
  assert.deepEqual(fleet.deleted, [sessionOf(fleet, "a.bin")?.fileId]);
  assert.equal(sessionOf(fleet, "a.bin")?.status, "aborted");

  const other = setup({ concurrency: 1 });
  add(other.uppy, file(40 * 1024, "c.bin").file);
  add(other.uppy, file(40 * 1024, "d.bin").file);
  other.uppy.on("upload-progress", (_f, p) => p.bytesUploaded >= 4 * 1024 && other.uppy.cancelAll());
  await other.uppy.upload();
  await until(() => other.fleet.deleted.length === other.fleet.sessions.size, "every session's deletion");
  assert.equal(other.fleet.files.size, 0);
  assert.ok([...other.fleet.sessions.values()].every((s) => s.status === "aborted"));
});

test("a failed file retried in Uppy continues its session, sending only the missing parts", async () => {
  const fleet = new FakeFleet();
  let refused = false;
  fleet.behaviour = ({ part }) => {
    if (part === 20 && !refused) {
      refused = true;
      return { status: 400, code: "invalid_request" };
    }
    return "ok";
  };
  const { uppy, ev } = setup({ concurrency: 1 }, fleet);
  const { file: f, sha } = file(40 * 1024);
  const id = add(uppy, f);
  const first = await uppy.upload();
  assert.deepEqual(first?.failed?.map((x) => x.id), [id]);
  assert.match(ev.errors[0].error.message, /\[invalid_request\]$/);
  const session = sessionOf(fleet, f.name)!;
  const recorded = session.parts.size;
  assert.ok(recorded >= 19 && recorded < 40, `${recorded}`);
  const again = await uppy.retryUpload(id);
  const body = again?.successful?.[0]?.response?.body as Record<string, unknown>;
  assert.deepEqual([body.fileId, body.resumed, body.sha256], [session.fileId, true, sha]);
  assert.ok((body.partsSent as number) <= 40 - recorded, `${body.partsSent} sent after ${recorded} recorded`);
});

test("a session left by an uninstalled plugin (a closed page) is continued by a new Uppy", async () => {
  const fleet = new FakeFleet();
  const store = new MemoryRecordStore();
  const { file: f, sha } = file(40 * 1024);
  const first = setup({ concurrency: 1 }, fleet, store);
  add(first.uppy, f);
  let closed = false;
  first.uppy.on("upload-progress", (_f, p) => {
    if (!closed && p.bytesUploaded >= 10 * 1024) {
      closed = true;
      first.uppy.removePlugin(first.uppy.getPlugin("JettySpeed")!);
    }
  });
  void first.uppy.upload().catch(() => {});
  await until(() => closed, "the plugin's removal");
  await tick(30);
  assert.deepEqual(fleet.deleted, [], "the session is kept");
  const recorded = sessionOf(fleet, f.name)!.parts.size;

  const second = setup({}, fleet, store);
  add(second.uppy, f);
  const result = await second.uppy.upload();
  const body = result?.successful?.[0]?.response?.body as Record<string, unknown>;
  assert.deepEqual([body.fileId, body.resumed, body.sha256], [sessionOf(fleet, f.name)?.fileId, true, sha]);
  assert.ok((body.partsSent as number) <= 40 - recorded, `${body.partsSent} sent after ${recorded} recorded`);
  assert.equal(fleet.sessions.size, 1, "one session in all");
});
