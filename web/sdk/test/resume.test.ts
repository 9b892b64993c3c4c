import { test } from "node:test";
import assert from "node:assert/strict";
import { bytesRecorded, MemoryRecordStore, missingParts, normalizeHash, pickSession, recordKey } from "../src/resume.js";
import { MIB, partLen, partOffset, planParts, preferredPartSize } from "../src/plan.js";
import type { OpenUpload } from "../src/types.js";

test("plans match shared/src/plan.rs", () => {
  // (size, threads) → part size and count, as PartPlan::new(size, preferred_part_size(size, 16)).
  assert.deepEqual(planParts(0, preferredPartSize(0, 16)), { fileSize: 0, partSize: 8 * MIB, partCount: 0 });
  assert.deepEqual(planParts(1, preferredPartSize(1, 16)), { fileSize: 1, partSize: 8 * MIB, partCount: 1 });
  const big = 37 * MIB + 3;
  assert.deepEqual(planParts(big, preferredPartSize(big, 16)), { fileSize: big, partSize: 5 * MIB, partCount: 8 });
  // Fewer 8 MiB parts than connections: smaller parts, down to 5 MiB (the Rust table's cases).
  for (const [size, threads, partSize, partCount] of [
    [100 * MIB, 32, 5 * MIB, 20],
    [100 * MIB, 16, 7 * MIB, 15],
    [100 * MIB, 8, 8 * MIB, 13],
    [256 * MIB, 32, 8 * MIB, 32],
    [200 * MIB, 32, 7 * MIB, 29],
    [6 * MIB, 32, 5 * MIB, 2],
    [5 * MIB, 32, 8 * MIB, 1],
    [1024 * MIB, 32, 8 * MIB, 128],
  ]) {
    assert.deepEqual(planParts(size, preferredPartSize(size, threads)), { fileSize: size, partSize, partCount }, `${size} ${threads}`);
  }
  const gib = 1024 * MIB;
  assert.deepEqual(planParts(gib, preferredPartSize(gib, 16)), { fileSize: gib, partSize: 16 * MIB, partCount: 64 });
  // A client size is clamped, rounded up to whole MiB, never below 5 MiB.
  assert.equal(planParts(100 * MIB, 1)?.partSize, 5 * MIB);
  assert.equal(planParts(100 * MIB, 6 * MIB + 1)?.partSize, 7 * MIB);
  // 96 MiB after rounding is over the 100 MB limit: the limit itself.
  assert.equal(planParts(100 * MIB, 10 * 1024 * MIB)?.partSize, 100_000_000);
  // 10,000 parts at most under the 100 MB body limit.
  assert.equal(planParts(10_000 * 100_000_000 + 1, 8 * MIB), null);
  const p = planParts(10_000 * 8 * MIB + 1, 8 * MIB)!;
  assert.ok(p.partCount <= 10_000 && p.partSize > 8 * MIB);
  const q = { fileSize: 21, partSize: 10, partCount: 3 };
  assert.deepEqual([partLen(q, 0), partLen(q, 1), partLen(q, 3), partLen(q, 4)], [null, 10, 1, null]);
  assert.equal(partOffset(q, 3), 20);
});

test("the parts to send are the coordinator's remaining list, sanitized", () => {
  const plan = { fileSize: 45, partSize: 10, partCount: 5 };
  assert.deepEqual(missingParts(plan, null), [1, 2, 3, 4, 5], "a new session sends everything");
  assert.deepEqual(missingParts(plan, { chunksRemaining: [5, 2, 2, 9, 0], chunksUploaded: [1, 3, 4] }), [2, 5]);
  assert.deepEqual(missingParts(plan, { chunksRemaining: [], chunksUploaded: [1, 2, 3, 4, 5] }), [], "only finalize left");
  // Without a remaining list: the plan minus what is uploaded.
  assert.deepEqual(missingParts(plan, { chunksUploaded: [1, 4, 7] } as never), [2, 3, 5]);
  assert.equal(bytesRecorded(plan, [2, 5]), 45 - 10 - 5);
  assert.equal(bytesRecorded(plan, []), 45);
});

test("hashes compare in either form", () => {
  const hex = "ab".repeat(32);
  assert.equal(normalizeHash(`sha256:${hex.toUpperCase()}`), hex);
  assert.equal(normalizeHash(hex), hex);
  assert.equal(normalizeHash("sha256:xyz"), null);
  assert.equal(normalizeHash(undefined), null);
});

test("the open session for a file: same hash and size, not expired, same name first, newest", () => {
  const hex = "cd".repeat(32);
  const u = (fileId: string, o: Partial<OpenUpload>): OpenUpload => ({
    fileId,
    sessionId: `ses_${fileId}`,
    fileName: "a.bin",
    fileSize: 100,
    fileHash: `sha256:${hex}`,
    partSize: 10,
    partCount: 10,
    partsDone: 1,
    bytesReceived: 10,
    createdAt: 1000,
    expiresAt: 10_000,
    ...o,
  });
  const list = [
    u("other-size", { fileSize: 99, createdAt: 5000 }),
    u("other-hash", { fileHash: "ef".repeat(32), createdAt: 5000 }),
    u("expired", { expiresAt: 2000, createdAt: 5000 }),
    u("old", { createdAt: 1000 }),
    u("renamed-newer", { fileName: "b.bin", createdAt: 3000 }),
    u("newer", { fileHash: hex, createdAt: 2000 }),
  ];
  assert.equal(pickSession(list, { size: 100, hash: hex, name: "a.bin" }, 3000)?.fileId, "newer");
  assert.equal(pickSession(list, { size: 100, hash: hex, name: "c.bin" }, 3000)?.fileId, "renamed-newer");
  assert.equal(pickSession(list, { size: 1, hash: hex }, 3000), null);
});

test("local records are kept by coordinator, name, size and modification time", async () => {
  const store = new MemoryRecordStore();
  const file = { name: "a.bin", size: 5, lastModified: 7 };
  const key = recordKey("http://x", file);
  assert.notEqual(key, recordKey("http://y", file));
  assert.notEqual(key, recordKey("http://x", { ...file, lastModified: 8 }));
  const rec = { key, baseUrl: "http://x", fileId: "f", fileHash: "h", fileName: "a.bin", fileSize: 5, lastModified: 7, partSize: 5, createdAt: 1 };
  await store.put(rec);
  assert.deepEqual(await store.get(key), rec);
  assert.equal((await store.list()).length, 1);
  await store.delete(key);
  assert.equal(await store.get(key), undefined);
});
