// The hashing Web Worker (a module worker; also works bundled as a classic script): hashes the
// Blobs it is sent with `hashBlob`, posting progress, so the page stays responsive while a
// large file is read and hashed. Messages: {id, op: "hash", blob, partSize?, sliceSize?, what?} and
// {id, op: "cancel"}; answers {id, type: "progress", bytes} | {id, type: "part", part, sha256}
// (each part's digest as soon as it is known) | {id, type: "done", result} | {id, type: "error",
// message}.

import { hashBlob } from "./hash-core.js";

interface HashJob {
  id: number;
  op: "hash";
  blob: Blob;
  partSize?: number;
  sliceSize?: number;
  what?: "both" | "parts" | "whole";
}

const scope = self as unknown as {
  postMessage(m: unknown): void;
  addEventListener(t: "message", f: (e: MessageEvent) => void): void;
};
const jobs = new Map<number, AbortController>();

scope.addEventListener("message", (event: MessageEvent) => {
  const msg = event.data as HashJob | { id: number; op: "cancel" };
  if (msg.op === "cancel") {
    jobs.get(msg.id)?.abort();
    return;
  }
  if (msg.op !== "hash") return;
  const ctl = new AbortController();
  jobs.set(msg.id, ctl);
  let last = 0;
  hashBlob(msg.blob, {
    partSize: msg.partSize,
    sliceSize: msg.sliceSize,
    what: msg.what,
    signal: ctl.signal,
    onPart: (part, sha256) => scope.postMessage({ id: msg.id, type: "part", part, sha256 }),
    onProgress: (bytes) => {
      const now = Date.now();
      if (now - last >= 50 || bytes === msg.blob.size) {
        last = now;
        scope.postMessage({ id: msg.id, type: "progress", bytes });
      }
    },
  }).then(
    (result) => scope.postMessage({ id: msg.id, type: "done", result }),
    (err) => scope.postMessage({ id: msg.id, type: "error", message: String((err as Error)?.message ?? err) }),
  ).finally(() => jobs.delete(msg.id));
});
