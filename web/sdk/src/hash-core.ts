// Streaming SHA-256 of a Blob/File: the whole file with hash-wasm (WebCrypto has no incremental
// digest), read a slice or a part at a time (the next is read while the current one is hashed),
// never the whole file at once; and the parts of a plan in the same pass, so starting or
// resuming an upload reads the file once for the file's hash and every part's. Where WebCrypto
// is available (secure contexts, Node) each part is digested by it, natively and off this
// thread, while hash-wasm runs over the same bytes: the parts cost almost nothing more. Without
// it, each slice feeds two hash-wasm states.

import { createSHA256 } from "hash-wasm";

export const DEFAULT_SLICE = 8 * 1024 * 1024;

export interface HashOptions {
  /** Also hash the parts of this size (the upload's plan), in order. */
  partSize?: number;
  /** Bytes read at a time (8 MiB). */
  sliceSize?: number;
  /** Called with the bytes hashed so far after each slice. */
  onProgress?: (bytes: number) => void;
  /** Called with each part's digest (hex) as soon as it is known, part 1 first. */
  onPart?: (part: number, sha256: string) => void;
  signal?: AbortSignal;
  /** Digest parts with WebCrypto when it is there (default true); false forces hash-wasm. */
  webCrypto?: boolean;
  /** What to compute: the whole blob and its parts (default), only the parts (natively with
   * WebCrypto, several at once: the content id, fast), or only the whole blob. */
  what?: "both" | "parts" | "whole";
}

export interface HashResult {
  /** Hex SHA-256 of the whole blob (absent when only the parts were asked for). */
  sha256?: string;
  /** Hex SHA-256 of each part, part 1 first, when `partSize` was given. */
  parts?: string[];
}

type Sha = Awaited<ReturnType<typeof createSHA256>>;

const subtle = (): SubtleCrypto | undefined => globalThis.crypto?.subtle;
/** Largest blob digested in one piece with WebCrypto (a part is at most 100 MB). */
export const ONE_SHOT_MAX = 128 * 1024 * 1024;
/** Parts up to this size are read one ahead (two parts in memory at most). */
const READ_AHEAD_MAX = 32 * 1024 * 1024;

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 (hex) of a blob: one WebCrypto digest for a part-sized blob, else streamed. */
export async function digestBlob(blob: Blob, opts: Pick<HashOptions, "signal" | "webCrypto"> = {}): Promise<string> {
  const s = opts.webCrypto === false ? undefined : subtle();
  if (s && blob.size <= ONE_SHOT_MAX) {
    const buf = await blob.arrayBuffer();
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    return hex(await s.digest("SHA-256", buf));
  }
  return (await hashBlob(blob, { signal: opts.signal, webCrypto: opts.webCrypto })).sha256 as string;
}

export async function hashBlob(blob: Blob, opts: HashOptions = {}): Promise<HashResult> {
  const s = opts.webCrypto === false ? undefined : subtle();
  const what = opts.what ?? "both";
  if (what === "whole") opts = { ...opts, partSize: undefined };
  if (what === "parts" && !(opts.partSize && opts.partSize > 0)) throw new Error("hashing parts needs a part size");
  if (s && opts.partSize && opts.partSize > 0 && opts.partSize <= ONE_SHOT_MAX) {
    return hashByParts(blob, opts.partSize, s, opts, what !== "parts");
  }
  if (s && !opts.partSize && blob.size <= ONE_SHOT_MAX) {
    // A part (or a small file): one native digest.
    const sha256 = await digestBlob(blob, opts);
    opts.onProgress?.(blob.size);
    return { sha256 };
  }
  const slice = Math.max(64 * 1024, opts.sliceSize ?? DEFAULT_SLICE);
  const partSize = opts.partSize && opts.partSize > 0 ? opts.partSize : 0;
  const whole: Sha = await createSHA256();
  whole.init();
  const part: Sha | null = partSize ? await createSHA256() : null;
  part?.init();
  const parts: string[] = [];
  let partFill = 0;
  const size = blob.size;
  const read = (offset: number) => (offset < size ? blob.slice(offset, Math.min(size, offset + slice)).arrayBuffer() : null);
  let pending = read(0);
  let offset = 0;
  while (pending) {
    const buf = new Uint8Array(await pending);
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    offset += buf.byteLength;
    pending = read(offset);
    if (what !== "parts") whole.update(buf);
    if (part) {
      let at = 0;
      while (at < buf.byteLength) {
        const take = Math.min(buf.byteLength - at, partSize - partFill);
        part.update(at === 0 && take === buf.byteLength ? buf : buf.subarray(at, at + take));
        partFill += take;
        at += take;
        if (partFill === partSize) {
          parts.push(part.digest("hex"));
          opts.onPart?.(parts.length, parts[parts.length - 1]);
          part.init();
          partFill = 0;
        }
      }
    }
    opts.onProgress?.(offset);
    if (buf.byteLength === 0) break;
  }
  if (part && partFill > 0) {
    parts.push(part.digest("hex"));
    opts.onPart?.(parts.length, parts[parts.length - 1]);
  }
  if (what === "parts") return { parts };
  return partSize ? { sha256: whole.digest("hex"), parts } : { sha256: whole.digest("hex") };
}

/** Each part with WebCrypto (native, off this thread; two digesting at most), reading a part at
 * a time (the next one ahead when parts are small), and with `withWhole` the whole file with
 * hash-wasm over the same bytes. Parts alone are what the content id needs: they go at the speed
 * of reading the file. */
async function hashByParts(
  blob: Blob,
  partSize: number,
  s: SubtleCrypto,
  opts: HashOptions,
  withWhole: boolean,
): Promise<HashResult> {
  const slice = Math.max(64 * 1024, opts.sliceSize ?? DEFAULT_SLICE);
  const whole: Sha | null = withWhole ? await createSHA256() : null;
  whole?.init();
  const size = blob.size;
  const count = Math.ceil(size / partSize);
  const read = (k: number) => blob.slice(k * partSize, Math.min(size, (k + 1) * partSize)).arrayBuffer();
  const digests: Array<Promise<ArrayBuffer>> = [];
  let next: Promise<ArrayBuffer> | null = count > 0 ? read(0) : null;
  let done = 0;
  for (let k = 0; k < count; k++) {
    const buf = await (next as Promise<ArrayBuffer>);
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
    next = k + 1 < count && partSize <= READ_AHEAD_MAX ? read(k + 1) : null;
    const len = buf.byteLength;
    const part = k + 1;
    const digest = s.digest("SHA-256", buf).then((d) => {
      opts.onPart?.(part, hex(d));
      return d;
    });
    if (whole) {
      digests.push(digest);
      const bytes = new Uint8Array(buf);
      for (let at = 0; at < bytes.byteLength; at += slice) {
        whole.update(bytes.subarray(at, Math.min(bytes.byteLength, at + slice)));
        done += Math.min(slice, bytes.byteLength - at);
        opts.onProgress?.(done);
      }
    } else {
      digests.push(
        digest.then((d) => {
          done += len;
          opts.onProgress?.(done);
          return d;
        }),
      );
    }
    if (next === null && k + 1 < count) next = read(k + 1);
    // At most one part waits for its digest while the next is hashed.
    if (k >= 1) await digests[k - 1];
  }
  const parts = (await Promise.all(digests)).map(hex);
  if (count === 0) opts.onProgress?.(0);
  return whole ? { sha256: whole.digest("hex"), parts } : { parts };
}

/** The content id of parts with these hex SHA-256 digests, in part order: SHA-256 over the raw
 * digests, `<hex>-<parts>` — the server's `jetty_shared::content_id` and S3's composite
 * checksum. Dedup looks it up; the declared whole-file hash alone finds only one-part files. */
export async function contentId(partHexes: string[]): Promise<string> {
  const raw = new Uint8Array(partHexes.length * 32);
  partHexes.forEach((hex, i) => {
    for (let b = 0; b < 32; b++) raw[i * 32 + b] = parseInt(hex.slice(2 * b, 2 * b + 2), 16);
  });
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex}-${partHexes.length}`;
}
