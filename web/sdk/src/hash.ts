// Hashers: where the SHA-256 work runs. `WorkerHasher` runs it in a Web Worker (the page stays
// responsive); `InProcessHasher` runs it here (Node, tests, or a page whose worker cannot
// start — the worker hasher falls back to it by itself).

import { hashBlob, type HashOptions, type HashResult } from "./hash-core.js";
import { JettyError } from "./errors.js";

export type { HashOptions, HashResult } from "./hash-core.js";

export interface Hasher {
  /** SHA-256 of `blob` (and of its parts of `opts.partSize`), reading it a slice at a time. */
  hash(blob: Blob, opts?: HashOptions): Promise<HashResult>;
  /** Frees what the hasher holds (the worker). */
  close?(): void;
}

export class InProcessHasher implements Hasher {
  hash(blob: Blob, opts?: HashOptions): Promise<HashResult> {
    return hashBlob(blob, opts).catch((e) => {
      if (opts?.signal?.aborted) throw e;
      throw new JettyError("local", `could not read the file: ${(e as Error)?.message ?? e}`);
    });
  }
}

interface Pending {
  resolve(r: HashResult): void;
  reject(e: unknown): void;
  onProgress?: (bytes: number) => void;
  onPart?: (part: number, sha256: string) => void;
}

export interface WorkerHasherOptions {
  /** `module` (default) or `classic`: how the worker script is loaded. */
  type?: WorkerType;
}

export class WorkerHasher implements Hasher {
  private worker: Worker | null = null;
  private broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly fallback = new InProcessHasher();

  /** `url`: where the worker script (`dist/hash-worker.js`) is served. */
  constructor(
    private readonly url: string | URL,
    private readonly opts: WorkerHasherOptions = {},
  ) {}

  /** Whether hashing fell back to this thread because the worker could not run. */
  get fellBack(): boolean {
    return this.broken;
  }

  private start(): Worker | null {
    if (this.broken) return null;
    if (this.worker) return this.worker;
    try {
      const w = new Worker(this.url, { type: this.opts.type ?? "module", name: "jetty-hash" });
      w.onmessage = (e: MessageEvent) => this.onMessage(e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault?.();
        this.fail(new JettyError("local", `the hashing worker failed: ${e.message || "could not load"}`));
      };
      this.worker = w;
      return w;
    } catch {
      this.broken = true;
      return null;
    }
  }

  /** The worker failed (could not load, or crashed): it is not used again, and the jobs it had
   * are rejected so `hash` can redo them here. */
  private fail(err: JettyError) {
    this.broken = true;
    this.worker?.terminate();
    this.worker = null;
    const jobs = [...this.pending.values()];
    this.pending.clear();
    for (const p of jobs) p.reject(err);
  }

  private onMessage(msg: { id: number; type: string; bytes?: number; part?: number; sha256?: string; result?: HashResult; message?: string }) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.type === "progress") p.onProgress?.(msg.bytes ?? 0);
    else if (msg.type === "part") p.onPart?.(msg.part ?? 0, msg.sha256 ?? "");
    else if (msg.type === "done") {
      this.pending.delete(msg.id);
      p.resolve(msg.result as HashResult);
    } else if (msg.type === "error") {
      this.pending.delete(msg.id);
      p.reject(new JettyError("local", `could not read the file: ${msg.message}`));
    }
  }

  async hash(blob: Blob, opts: HashOptions = {}): Promise<HashResult> {
    const worker = this.start();
    if (!worker) return this.fallback.hash(blob, opts);
    const id = this.nextId++;
    const { signal } = opts;
    try {
      return await new Promise<HashResult>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const onAbort = () => {
          this.pending.delete(id);
          this.worker?.postMessage({ id, op: "cancel" });
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        const done = () => signal?.removeEventListener("abort", onAbort);
        this.pending.set(id, {
          resolve: (r) => (done(), resolve(r)),
          reject: (e) => (done(), reject(e)),
          onProgress: opts.onProgress,
          onPart: opts.onPart,
        });
        worker.postMessage({ id, op: "hash", blob, partSize: opts.partSize, sliceSize: opts.sliceSize, what: opts.what });
      });
    } catch (e) {
      // The worker itself failed (a CSP or a crash): do the work here instead.
      if (this.broken && !signal?.aborted) return this.fallback.hash(blob, opts);
      throw e;
    }
  }

  close() {
    this.worker?.terminate();
    this.worker = null;
  }
}

/** A worker hasher when a worker script URL is given and workers exist, else in-process. */
export function defaultHasher(workerUrl?: string | URL): Hasher {
  if (workerUrl && typeof Worker !== "undefined") return new WorkerHasher(workerUrl);
  return new InProcessHasher();
}
