import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { digestBlob, hashBlob } from "../src/hash-core.js";
import { InProcessHasher } from "../src/hash.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

test("the whole file and every part hash in one pass, whatever the slice size", async () => {
  const data = randomBytes(3 * 1024 * 1024 + 12345);
  const blob = new Blob([data]);
  const partSize = 1024 * 1024 + 7; // parts that do not line up with slices
  const want = [];
  for (let o = 0; o < data.length; o += partSize) want.push(sha(data.subarray(o, o + partSize)));
  for (const webCrypto of [true, false]) {
    for (const sliceSize of [64 * 1024, 300_001, 8 * 1024 * 1024]) {
      const seen: number[] = [];
      const what = `slice ${sliceSize}, WebCrypto ${webCrypto}`;
      const r = await hashBlob(blob, { partSize, sliceSize, webCrypto, onProgress: (n) => seen.push(n) });
      assert.equal(r.sha256, sha(data), what);
      assert.deepEqual(r.parts, want, what);
      assert.equal(seen[seen.length - 1], data.length, what);
      assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]), `${what}: progress only grows`);
    }
  }
  // A part alone: one digest either way.
  const part = blob.slice(partSize, 2 * partSize);
  assert.equal(await digestBlob(part), want[1]);
  assert.equal(await digestBlob(part, { webCrypto: false }), want[1]);
  assert.equal((await hashBlob(part)).sha256, want[1]);
  // Exactly whole parts, and no parts asked for.
  const even = new Blob([data.subarray(0, 2 * 1024 * 1024)]);
  for (const webCrypto of [true, false]) {
    const r = await hashBlob(even, { partSize: 1024 * 1024, sliceSize: 1024 * 1024, webCrypto });
    assert.equal(r.parts?.length, 2);
    assert.equal((await hashBlob(even, { webCrypto })).parts, undefined);
  }
});

test("an empty blob has the empty hash and no parts", async () => {
  for (const webCrypto of [true, false]) {
    const r = await hashBlob(new Blob([]), { partSize: 5, webCrypto });
    assert.equal(r.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.deepEqual(r.parts, []);
  }
});

test("hashing stops when aborted", async () => {
  const ctl = new AbortController();
  ctl.abort(new Error("stop"));
  await assert.rejects(new InProcessHasher().hash(new Blob([randomBytes(1000)]), { signal: ctl.signal }), /stop/);
});

test("the content id is the composite of the part digests, as the server computes it", async () => {
  const { contentId } = await import("../src/hash-core.js");
  // shared/src/content_id.rs's vector: parts "hello" and "world".
  const parts = [sha(Buffer.from("hello")), sha(Buffer.from("world"))];
  assert.equal(await contentId(parts), "7305db9b2abccd706c256db3d97e5ff48d677cfe4d3a5904afb7da0e3950e1e2-2");
});
