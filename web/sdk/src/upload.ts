// One file's upload: find or start its session, send the missing parts over the edges (the
// sans-IO scheduler decides; this file does the I/O), finalize. Progress and state changes are
// events; pause(), resume() and abort() control it.

import { Api, sleep, withRetries, type RetryNotice } from "./api.js";
import { ALWAYS_ONLINE, whenOnline, type Connectivity } from "./connectivity.js";
import { abortedError, blame, errorFromAnswer, JettyError, type Trouble } from "./errors.js";
import type { Hasher } from "./hash.js";
import { contentId } from "./hash-core.js";
import { partLen, partOffset, planParts, preferredPartSize, samePlan, type PartPlan } from "./plan.js";
import { etaSeconds, RateWindow } from "./progress.js";
import { bytesRecorded, missingParts, normalizeHash, recordKey, type LocalRecord, type RecordStore } from "./resume.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
import { PartScheduler, PROGRESS_WINDOW_MS, type Action, type Assignment, type Outcome } from "./scheduler.js";
import { MAX_REUSE_OFFERS, SessionApi } from "./session-api.js";
import type { PartTransport, StoreCheck } from "./transport.js";
import type { ChunkReceipt, Duplicate, EdgeInfo, FileInfo, OpenUpload, OptimalEdgesResponse, ResumeResponse, UploadState } from "./types.js";

export type UploadStateName = "hashing" | "starting" | "uploading" | "paused" | "finalizing" | "done" | "error" | "aborted";

export interface UploadOptions {
  /** Parts in flight at once, across all edges (8). */
  concurrency?: number;
  /** Preferred part size in bytes; the coordinator clamps it. */
  partSize?: number;
  /** How long failures are waited out and the waits (2 min of continuous failure). */
  retry?: Partial<RetryPolicy>;
  /** How long one part may take before it is sent again elsewhere (ms); default a minute plus
   * the part's size at 64 KiB/s, like the CLI — unless its bytes are still moving: a slow part
   * is sent again only once it has gone this long (default a minute) without moving. */
  partTimeoutMs?: number;
  contentType?: string;
  /** Continue this session (an open upload listed by `listUploads`): the file must be the one
   * it was started with (same size and SHA-256). */
  resumeFileId?: string;
  /** Look for an open session of the same content started elsewhere (`GET
   * /api/jetty/uploads?hash=`) before starting a new one (true). */
  lookupRemote?: boolean;
  /** Session lifetime to ask for, in seconds. */
  expiresIn?: number;
  /** Start paused. */
  paused?: boolean;
  /** How often a chunk whose body did not match its hash is re-read and sent again (3). */
  maxHashRetries?: number;
  /** A new upload of a file up to this size (bytes) hashes its parts before the session opens,
   * so dedup and part reuse answer before any byte is sent; a larger one opens the session at
   * once and sends each part as soon as it is hashed, naming its content at
   * `/api/jetty/identify` when the last one is (see `HASH_FIRST_MAX`). */
  hashFirstMax?: number;
}

/** Up to this size a new upload is hashed before it starts (a quarter of a second or less at a
 * browser's part-hashing speed); above, hashing first would hold the first byte back for
 * seconds on a desktop and far longer on a phone. */
export const HASH_FIRST_MAX = 64 * 1024 * 1024;

/** Parts an upload named later starts at most before it is named, unless the account stores
 * none of its first ones: a duplicate (another device's upload of the same file) sends these
 * at most, while a new file's first parts still go out at once (the CLI's `UNNAMED_PARTS`). */
export const UNNAMED_PARTS = 4;

export interface UploadProgress {
  state: UploadStateName;
  fileName: string;
  fileSize: number;
  fileId: string | null;
  /** Bytes of the file hashed so far. */
  hashedBytes: number;
  /** Bytes of the file the coordinator holds (recorded parts, earlier runs included). */
  bytesDone: number;
  /** `bytesDone` plus what is on its way in parts in flight. */
  bytesUploaded: number;
  /** Body bytes this run handed to the network, re-sent ones included. */
  bytesSent: number;
  partsTotal: number;
  /** Parts recorded, earlier runs included. */
  partsDone: number;
  /** Parts this run sent and had recorded. */
  partsSent: number;
  /** Bytes per second over the last few seconds, or null before there is a figure. */
  speed: number | null;
  /** Seconds to go at that speed, or null. */
  eta: number | null;
  /** Bytes each edge carried in this run (recorded parts), by edge id. */
  perEdge: Record<string, number>;
  /** Bytes on their way through each edge now (parts in flight), by edge id. */
  inFlight: Record<string, number>;
  /** Set while an outage is waited out. */
  retrying: { trouble: Trouble; delayMs: number } | null;
  /** The device says it has no network: nothing is sent (nor counted against the retry
   * budget) until it is back. */
  offline: boolean;
  /** Whether an earlier session is being continued. */
  resumed: boolean;
  /** Edges that failed during this upload (reported once each). */
  failedEdges: string[];
  /** Re-sends of parts whose body did not match its hash. */
  hashRetries: number;
  /** Parts the store copied from what the account already stored (not sent). */
  partsReused: number;
}

export interface UploadResult {
  fileId: string;
  url: string;
  size: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
  duplicate: boolean;
  resumed: boolean;
  parts: number;
  partsSent: number;
  /** Parts the store copied from what the account already stored (not sent). */
  partsReused: number;
  bytesSent: number;
  edges: string[];
  perEdge: Record<string, number>;
  seconds: number;
}

export type UploadEvents = {
  progress: UploadProgress;
  state: UploadStateName;
  /** An outage is being waited out (`null`: it is over). */
  retry: RetryNotice | null;
  /** An edge failed and its parts moved on; `reason` says how. */
  edgeFailed: { edgeId: string; reason: string };
  /** The session is known (started, resumed or a duplicate). */
  session: { fileId: string; resumed: boolean; duplicate: boolean };
};

/** What an upload needs from its client. */
export interface UploadContext {
  api: Api;
  hasher: Hasher;
  store: RecordStore;
  transport: PartTransport;
  /** Absent: parts are sent again after a store failure without asking first. */
  storeCheck?: StoreCheck;
  now: () => number;
  random: () => number;
  /** Whether the device has a network (absent: always online). */
  connectivity?: Connectivity;
}

/** The slowest a part may go before it counts as stalled (the CLI's `SLOWEST_PART_RATE`). */
export const SLOWEST_PART_RATE = 64 * 1024;

export function partDeadlineMs(len: number): number {
  return 60_000 + (len / SLOWEST_PART_RATE) * 1000;
}

interface InFlight {
  a: Assignment;
  ctl: AbortController;
  sent: number;
  len: number;
  /** When its body last moved (the browser's upload progress), for its deadline. */
  movedAt: number | null;
  /** The first progress: when, and the bytes sent by then (the rate is measured from it). */
  firstMoved: { at: number; sent: number } | null;
}

/** What a part's body may still hold unsent once the browser reports all of it sent (its
 * socket's buffers), and the longest a part counts as moving past its last progress. */
const DRAIN_AHEAD = 1 << 20;
const MAX_MOVING_GAP_MS = 600_000;

/** Until when a part in flight counts as moving: its last progress, plus — once the browser
 * reports the whole body sent — the time its rate so far needs to drain what the buffers may
 * still hold (at most ten minutes); `null` before any progress. */
export function movingUntil(f: { movedAt: number | null; firstMoved: { at: number; sent: number } | null; sent: number; len: number }): number | null {
  if (f.movedAt === null || f.firstMoved === null) return null;
  if (f.sent < f.len) return f.movedAt;
  const elapsed = f.movedAt - f.firstMoved.at;
  const moved = f.sent - f.firstMoved.sent;
  const gap = elapsed > 0 && moved > 0 ? Math.min((Math.min(DRAIN_AHEAD, f.len) * elapsed) / moved, MAX_MOVING_GAP_MS) : 0;
  return f.movedAt + gap;
}

interface Answer {
  a: Assignment;
  outcome: Outcome;
  error: JettyError | null;
  receipt: ChunkReceipt | null;
}

const PAUSED = Symbol("paused");
/** The device went offline: parts in flight are cancelled and go back to the queue. */
const OFFLINE = Symbol("offline");
const DEADLINE = Symbol("deadline");
/** Sending stopped because `identify` found the content stored already. */
const DUPLICATE = Symbol("duplicate");
/** The one-read naming pass was given up: the file's first parts are stored already. */
const START_STORED = Symbol("start stored");

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Aborted when either is. */
function anySignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any([a, b]);
  const ctl = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) ctl.abort(s.reason);
    else s.addEventListener("abort", () => ctl.abort(s.reason), { once: true });
  }
  return ctl.signal;
}

/** `p`, or the signal's reason once it is aborted (whichever comes first). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener("abort", onAbort), resolve(v)),
      (e) => (signal.removeEventListener("abort", onAbort), reject(e)),
    );
  });
}

export class Upload {
  readonly file: Blob & { name?: string; lastModified?: number };
  readonly result: Promise<UploadResult>;

  private readonly ctx: UploadContext;
  private readonly conn: Connectivity;
  /** The coordinator's session endpoints. */
  private readonly calls: SessionApi;
  private readonly opts: Required<Pick<UploadOptions, "concurrency" | "lookupRemote" | "maxHashRetries">> & UploadOptions;
  private readonly retry: RetryPolicy;
  private readonly listeners = new Map<keyof UploadEvents, Set<(v: never) => void>>();
  private readonly abortCtl = new AbortController();
  private readonly rate = new RateWindow(5000);
  private readonly inflight = new Map<number, InFlight>();
  private readonly started: number;

  private stateName: UploadStateName = "hashing";
  private paused: boolean;
  private wake: (() => void) | null = null;
  private answers: Answer[] = [];
  private lastEmit = 0;
  private hashRetriesByPart = new Map<number, number>();
  private tokenRefresh: Promise<void> | null = null;
  private sessionFileId: string | null = null;
  private discardOnAbort = true;

  // The session being sent.
  private token = "";
  private edges: EdgeInfo[] = [];
  private plan: PartPlan | null = null;
  private partHashes: Map<number, string> = new Map();
  /** The part digests of the predicted plan, from the hashing pass (for the content id). */
  private predictedParts: { plan: PartPlan; digests: string[] } | null = null;
  /** Hex SHA-256 of the whole file, once known (see `wholeHash`). */
  private fileHash = "";
  /** A part failed because of the store, and none has been stored since. */
  private storeSuspect = false;
  /** Opened without an identity: the naming pass hashes the parts while they go out. */
  private namingLater = false;
  /** The naming pass has read the whole file (or failed to). */
  private namingHashed = false;
  /** The naming pass: every part's digest and the whole file's, then `identify`; what it
   * found stored (a duplicate), or null. */
  private naming: Promise<Duplicate | null> | null = null;
  /** Parts whose digest a sender waits for from the naming pass. */
  private partWaiters = new Map<number, Deferred<string>>();
  /** Stops the senders (not the upload) when `identify` answers with a duplicate. */
  private readonly sendCtl = new AbortController();
  /** The content id over the predicted plan's part digests (what dedup and resume match). */
  private contentId: string | null = null;
  /** Content ids of this file over other part sizes (another client's session plans). */
  private idsByPartSize = new Map<number, string | null>();
  /** The whole-file hash in the background (it runs while the parts go out). */
  private whole: Promise<string> | null = null;
  private wholeCancel: AbortController | null = null;
  private record: LocalRecord | null = null;

  private p: UploadProgress;

  constructor(ctx: UploadContext, file: Blob & { name?: string; lastModified?: number }, opts: UploadOptions = {}) {
    this.ctx = ctx;
    this.conn = ctx.connectivity ?? ALWAYS_ONLINE;
    this.calls = new SessionApi(ctx.api);
    this.file = file;
    this.opts = { concurrency: 8, lookupRemote: true, maxHashRetries: 3, ...opts };
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.paused = !!opts.paused;
    this.started = ctx.now();
    this.p = {
      state: "hashing",
      fileName: file.name ?? "blob",
      fileSize: file.size,
      fileId: null,
      hashedBytes: 0,
      bytesDone: 0,
      bytesUploaded: 0,
      bytesSent: 0,
      partsTotal: 0,
      partsDone: 0,
      partsSent: 0,
      speed: null,
      eta: null,
      perEdge: {},
      inFlight: {},
      retrying: null,
      offline: !this.conn.online(),
      resumed: false,
      failedEdges: [],
      hashRetries: 0,
      partsReused: 0,
    };
    this.result = this.run();
    // The caller may only listen to events; an unobserved failure is not an unhandled rejection.
    this.result.catch(() => {});
  }

  get state(): UploadStateName {
    return this.stateName;
  }

  /** The latest progress figures. */
  get progress(): UploadProgress {
    return { ...this.p, perEdge: { ...this.p.perEdge }, inFlight: { ...this.p.inFlight }, failedEdges: [...this.p.failedEdges] };
  }

  get fileId(): string | null {
    return this.sessionFileId;
  }

  on<K extends keyof UploadEvents>(event: K, fn: (v: UploadEvents[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (v: never) => void);
    return () => set.delete(fn as (v: never) => void);
  }

  private emit<K extends keyof UploadEvents>(event: K, value: UploadEvents[K]) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as (v: UploadEvents[K]) => void)(value);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** Stops sending: parts in flight are cancelled and go back to the queue. */
  pause(): void {
    if (this.paused || this.isFinished()) return;
    this.paused = true;
    if (this.stateName === "uploading") this.setState("paused");
    // Parts in flight go back to the queue (the scheduler is told in the loop).
    this.poke();
  }

  /** Continues a paused upload. */
  resume(): void {
    if (!this.paused || this.isFinished()) return;
    this.paused = false;
    if (this.stateName === "paused") this.setState("uploading");
    this.poke();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Stops for good. By default the session is discarded too (its parts deleted, its quota
   * reservation released) and the local record forgotten; `keepSession` leaves both, so the
   * upload can be continued later like after closing the tab. */
  abort(opts: { keepSession?: boolean } = {}): void {
    if (this.isFinished()) return;
    this.discardOnAbort = !opts.keepSession;
    this.abortCtl.abort(abortedError());
    this.poke();
  }

  private isFinished() {
    return this.stateName === "done" || this.stateName === "error" || this.stateName === "aborted";
  }

  private setState(s: UploadStateName) {
    if (this.stateName === s) return;
    // The speed is measured from when sending (re)starts, not across hashing or a pause.
    if (s === "uploading") this.rate.reset();
    this.stateName = s;
    this.p.state = s;
    this.emit("state", s);
    this.emitProgress(true);
  }

  private poke() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private emitProgress(force = false) {
    const now = this.ctx.now();
    let inflightBytes = 0;
    const perEdge: Record<string, number> = {};
    for (const f of this.inflight.values()) {
      const sent = Math.min(f.sent, f.len);
      inflightBytes += sent;
      const id = this.edges[f.a.edge]?.id ?? String(f.a.edge);
      perEdge[id] = (perEdge[id] ?? 0) + sent;
    }
    this.p.inFlight = perEdge;
    this.p.bytesUploaded = Math.min(this.p.fileSize, this.p.bytesDone + inflightBytes);
    this.rate.add(now, this.p.bytesSent);
    const uploading = this.stateName === "uploading";
    this.p.speed = uploading ? this.rate.rate(now) : null;
    this.p.eta = uploading ? etaSeconds(this.p.fileSize - this.p.bytesUploaded, this.p.speed) : this.stateName === "done" ? 0 : null;
    if (!force && now - this.lastEmit < 100) return;
    this.lastEmit = now;
    this.emit("progress", this.progress);
  }

  private notice = (n: RetryNotice | null) => {
    const had = this.p.retrying !== null;
    this.p.retrying = n;
    if (n || had) {
      this.emit("retry", n);
      this.emitProgress(true);
    }
  };

  // ---------------------------------------------------------------------------------------
  // The flow.

  private async run(): Promise<UploadResult> {
    const signal = this.abortCtl.signal;
    const unsubscribe = this.conn.subscribe((online) => {
      this.p.offline = !online;
      this.emitProgress(true);
      this.poke();
    });
    try {
      const result = await this.flow(signal);
      this.setState("done");
      return result;
    } catch (e) {
      this.cancelAll(PAUSED);
      if (signal.aborted) {
        this.setState("aborted");
        if (this.discardOnAbort) await this.discard();
        throw signal.reason instanceof JettyError ? signal.reason : abortedError();
      }
      const err = e instanceof JettyError ? e : new JettyError("local", String((e as Error)?.message ?? e));
      this.lastError = err;
      this.setState("error");
      throw err;
    } finally {
      unsubscribe();
    }
  }

  /** The error the upload ended with, if it failed. */
  lastError: JettyError | null = null;

  private async discard() {
    const id = this.sessionFileId;
    if (this.record) await this.ctx.store.delete(this.record.key).catch(() => {});
    if (!id || this.stateName === "done") return;
    await this.calls.discard(id).catch(() => {});
  }

  private async flow(signal: AbortSignal): Promise<UploadResult> {
    const { api, store } = this.ctx;
    const file = this.file;
    const size = file.size;
    const ident = { name: this.p.fileName, size, lastModified: file.lastModified ?? 0 };
    const key = recordKey(api.baseUrl, ident);
    const calls = <T>(call: () => Promise<T>) =>
      withRetries(this.retry, call, { notice: this.notice, signal, random: this.ctx.random, connectivity: this.conn });

    // 1. What session this file may already have: named by the caller, or kept locally.
    let ticket: ResumeResponse | null = null;
    let resumedFrom: "explicit" | "local" | "remote" | null = null;
    if (this.opts.resumeFileId) {
      ticket = await calls(() => this.resumeTicket(this.opts.resumeFileId as string, signal));
      if (ticket.state.total !== size) {
        throw new JettyError("integrity", `the session is for a file of ${ticket.state.total} bytes; this one has ${size}`);
      }
      resumedFrom = "explicit";
    }
    const local = await store.get(key).catch(() => undefined);
    // A new upload of a large file opens its session at once and names its content when its
    // parts are hashed (they go out meanwhile), unless something may already hold it: a local
    // record, or an open session of this size in the account (another device's), which is
    // matched by content first.
    let openOfSize: OpenUpload[] | undefined;
    if (!ticket && !local && size > (this.opts.hashFirstMax ?? HASH_FIRST_MAX)) {
      openOfSize = this.opts.lookupRemote ? await this.openUploadsOfSize(size, signal) : [];
      this.namingLater = openOfSize.length === 0;
    }

    // 2. Hash the parts of the known or predicted plan (natively, several at once): their
    // content id answers dedup and finds a session to continue. The whole-file SHA-256 (hash-wasm,
    // streamed in the worker) then runs in the background while the parts go out, and is
    // declared at finalize. Without a plan, the whole-file hash comes first, as before.
    let predicted = ticket
      ? { fileSize: size, partSize: ticket.upload.partSize, partCount: ticket.upload.partCount }
      : local
        ? { fileSize: size, partSize: local.partSize, partCount: Math.ceil(size / local.partSize) }
        : planParts(size, this.opts.partSize ?? preferredPartSize(size, this.opts.concurrency));
    this.setState("hashing");
    const onProgress = (bytes: number) => {
      this.p.hashedBytes = bytes;
      this.emitProgress();
    };
    if (!this.namingLater) {
      if (predicted && predicted.partCount > 0) await this.hashParts(predicted, signal, onProgress);
      if (!this.contentId) this.fileHash = (await this.ctx.hasher.hash(file, { signal, onProgress })).sha256 as string;
      else this.startWholeHash(signal);
      this.p.hashedBytes = size;
    }
    this.setState("starting");

    // 3. Continue a session (the named one, the local record's, or one found by content), else
    // start one.
    if (ticket) {
      if (!ticket.state.contentId && !ticket.state.fileHash) {
        // Closed before its content was named: nothing says which bytes it holds.
        throw new JettyError("refused", `session ${ticket.upload.fileId} stopped before its content was named and cannot be continued: upload the file again`, {
          code: "session_unnamed",
        });
      }
      if (!(await this.sameContent(ticket.state, signal))) {
        throw new JettyError("integrity", `${this.p.fileName} is not the file session ${ticket.upload.fileId} was started with`);
      }
    } else if (local && ((!local.contentId && !local.fileHash) || (await this.sameContent(local, signal)))) {
      // (A record of an upload named later, kept before it was named: the session itself says
      // whether it was named since, and by what.)
      ticket = await this.tryResume(local.fileId, size, signal, calls);
      if (ticket) resumedFrom = "local";
      else await store.delete(key).catch(() => {});
    } else if (local) {
      await store.delete(key).catch(() => {});
    }
    if (!ticket && this.opts.lookupRemote && !this.namingLater) {
      const open = await this.findOpenSession(size, signal, openOfSize);
      if (open) {
        ticket = await this.tryResume(open.fileId, size, signal, calls);
        if (ticket) resumedFrom = "remote";
      }
    }
    let edges: EdgeInfo[];
    let state: Pick<UploadState, "chunksRemaining" | "chunksUploaded"> | null = null;
    if (ticket) {
      edges = ticket.edges;
      state = ticket.state;
    } else {
      // The same content being uploaded in this account right now is waited for: asked
      // again, the finished upload answers as a duplicate.
      let answer: OptimalEdgesResponse;
      let replanned = false;
      for (;;) {
        try {
          const asked = predicted;
          answer = await calls(() => this.optimalEdges(size, asked, signal));
          break;
        } catch (e) {
          // The service plans parts of another size (its largest part is smaller): hash those
          // and ask again, once.
          const planned = Number(((e as JettyError)?.details as { partSize?: number } | undefined)?.partSize);
          if (e instanceof JettyError && e.code === "part_size_changed" && !replanned && planned > 0) {
            replanned = true;
            predicted = { fileSize: size, partSize: planned, partCount: Math.ceil(size / planned) };
            await this.hashParts(predicted, signal, onProgress);
            continue;
          }
          if (!(e instanceof JettyError) || e.code !== "upload_in_progress") throw e;
          const after = Number((e.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 2);
          await sleep(Math.max(1, after) * 1000, signal);
        }
      }
      if (answer.duplicate) {
        // The same content by verified content id: the stored file's hash is this file's.
        const stored = normalizeHash(answer.duplicate.sha256);
        if (stored && !this.fileHash) {
          this.wholeCancel?.abort();
          this.fileHash = stored;
        }
        const sha256 = this.fileHash || (await this.wholeHash(signal));
        return this.duplicateResult(answer.duplicate, sha256);
      }
      if (!answer.upload) throw new JettyError("server", "no upload ticket in the answer", { status: 200 });
      ticket = { upload: answer.upload, edges: answer.edges, state: null as unknown as UploadState };
      edges = answer.edges;
    }
    const upload = ticket.upload;
    this.sessionFileId = upload.fileId;
    this.p.fileId = upload.fileId;
    this.p.resumed = resumedFrom !== null;
    this.token = upload.uploadToken;
    this.edges = edges;
    const plan: PartPlan = { fileSize: size, partSize: upload.partSize, partCount: upload.partCount };
    this.plan = plan;
    if (this.predictedParts && samePlan(this.predictedParts.plan, plan)) this.predictedParts.digests.forEach((h, i) => this.partHashes.set(i + 1, h));
    this.record = {
      key,
      baseUrl: api.baseUrl,
      fileId: upload.fileId,
      fileHash: this.fileHash || undefined,
      contentId: this.contentId ?? undefined,
      fileName: ident.name,
      fileSize: size,
      lastModified: ident.lastModified,
      partSize: plan.partSize,
      createdAt: Date.now(),
    };
    // Best effort: without the record the upload still works, it just cannot resume by itself.
    await store.put(this.record).catch(() => {});
    this.emit("session", { fileId: upload.fileId, resumed: this.p.resumed, duplicate: false });

    let remaining = missingParts(plan, state);
    // A new session: the parts the account already stores (an earlier version of this file)
    // are copied inside the store instead of sent.
    if (!state && remaining.length > 1 && this.partHashes.size === plan.partCount) {
      const copied = await this.reuseStoredParts(upload.fileId, remaining, signal);
      this.p.partsReused = copied.size;
      remaining = remaining.filter((n) => !copied.has(n));
    }
    this.p.partsTotal = plan.partCount;
    this.p.partsDone = plan.partCount - remaining.length;
    this.p.bytesDone = bytesRecorded(plan, remaining);
    if (remaining.length > 0 && edges.length === 0) throw new JettyError("server", "no edges in the answer", { status: 200 });

    // 4. Send the missing parts, then finalize (a part the coordinator says is missing at
    // finalize is sent again, twice at most).
    const scheduler = new PartScheduler(
      edges.map((e) => e.weight),
      remaining,
      {
        concurrency: Math.max(1, this.opts.concurrency),
        partTimeoutMs: this.opts.partTimeoutMs ?? partDeadlineMs(plan.partSize),
        progressWindowMs: this.opts.partTimeoutMs ?? PROGRESS_WINDOW_MS,
        retry: this.retry,
        random: this.ctx.random,
      },
    );
    // Named later: the parts are hashed (each sent as soon as its digest is known) and the
    // content named while they go out.
    if (this.namingLater) this.startNaming(plan, upload.fileId, scheduler, calls, signal);
    const sending = anySignal(signal, this.sendCtl.signal);
    let file_: FileInfo | null = null;
    for (let round = 0; ; round++) {
      this.setState(this.paused ? "paused" : "uploading");
      try {
        await this.sendParts(scheduler, sending);
      } catch (e) {
        // Stopped for a duplicate, or a part refused because `identify` has just closed the
        // session as one (the part's answer can come before identify's): the naming pass
        // decides.
        if (signal.aborted || !this.naming) throw e;
        const closed = e instanceof JettyError && e.code === "session_not_active";
        if (!this.sendCtl.signal.aborted && !closed) throw e;
        this.cancelAll(PAUSED);
        if (!(await this.naming.catch(() => null))) throw e;
      }
      const duplicate = this.naming ? await this.naming : null;
      if (duplicate) {
        await store.delete(key).catch(() => {});
        return this.duplicateResult(duplicate, this.fileHash || (await this.wholeHash(signal)));
      }
      this.setState("finalizing");
      const fileHash = await this.wholeHash(signal);
      try {
        file_ = (await calls(() => this.calls.finalize(upload.fileId, plan.partCount, fileHash, signal))).file;
        break;
      } catch (e) {
        const missing = (e as JettyError)?.code === "parts_missing" ? ((e as JettyError).details as { missing?: unknown })?.missing : null;
        if (round >= 2 || !Array.isArray(missing) || missing.length === 0) throw e;
        const parts = missing.filter((n): n is number => typeof n === "number" && partLen(plan, n) !== null);
        if (parts.length === 0) throw e;
        for (const n of parts) {
          this.p.partsDone -= 1;
          this.p.bytesDone -= partLen(plan, n) ?? 0;
        }
        scheduler.add(parts);
      }
    }
    await store.delete(key).catch(() => {});
    this.p.bytesDone = size;
    this.p.partsDone = plan.partCount;
    const sha = normalizeHash(file_.sha256) ?? this.fileHash;
    if (sha !== this.fileHash) throw new JettyError("integrity", `the stored file's SHA-256 ${sha} is not the file's ${this.fileHash}`);
    return {
      fileId: file_.id,
      url: file_.url,
      size: file_.size,
      sha256: sha,
      duplicate: false,
      resumed: this.p.resumed,
      parts: plan.partCount,
      partsSent: this.p.partsSent,
      partsReused: this.p.partsReused,
      bytesSent: this.p.bytesSent,
      edges: edges.map((e) => e.id),
      perEdge: { ...this.p.perEdge },
      seconds: (this.ctx.now() - this.started) / 1000,
    };
  }

  /** The result for content the account already stores (`dup`, a new file on it). */
  private duplicateResult(dup: Duplicate, sha256: string): UploadResult {
    const size = this.file.size;
    this.sessionFileId = dup.fileId;
    this.p.fileId = dup.fileId;
    this.p.bytesDone = size;
    this.emit("session", { fileId: dup.fileId, resumed: false, duplicate: true });
    return {
      fileId: dup.fileId,
      url: dup.url,
      size,
      sha256,
      duplicate: true,
      resumed: false,
      parts: 0,
      partsSent: this.p.partsSent,
      partsReused: 0,
      bytesSent: this.p.bytesSent,
      edges: [],
      perEdge: { ...this.p.perEdge },
      seconds: (this.ctx.now() - this.started) / 1000,
    };
  }

  /** A ticket for `fileId` if the session is still open for this file; `null` when it is gone
   * (finalized, aborted, expired, another account's) or is for other bytes. */
  private async tryResume(
    fileId: string,
    size: number,
    signal: AbortSignal,
    calls: <T>(call: () => Promise<T>) => Promise<T>,
  ): Promise<ResumeResponse | null> {
    try {
      const t = await calls(() => this.resumeTicket(fileId, signal));
      if (t.state.total !== size || !(await this.sameContent(t.state, signal))) return null;
      if (t.state.status && t.state.status !== "active") return null;
      return t;
    } catch (e) {
      if (e instanceof JettyError && e.kind === "refused") return null;
      throw e;
    }
  }

  /** An open session of this account for the same bytes (started on another device or in
   * another browser), or `null` (also when the coordinator has no listing). Another client may
   * have planned other parts: a candidate of the same size is checked by the content id over
   * its own plan's parts (hashed again if that plan is not ours), or by the whole-file hash. */
  private async findOpenSession(size: number, signal: AbortSignal, listed?: OpenUpload[]): Promise<OpenUpload | null> {
    const uploads = listed ?? (await this.openUploadsOfSize(size, signal));
    uploads.sort((a, b) => Number(b.fileName === this.p.fileName) - Number(a.fileName === this.p.fileName) || b.createdAt - a.createdAt);
    for (const u of uploads) if (await this.sameContent(u, signal)) return u;
    return null;
  }

  /** The account's open uploads of this size (none when the coordinator has no listing). */
  /** Waits while the device is offline, saying so (before a best-effort call, whose failure
   * would only mean a worse path: a second session, parts sent instead of copied). */
  private async networkBack(signal: AbortSignal): Promise<void> {
    if (this.conn.online()) return;
    this.notice({ trouble: "offline", delayMs: 0 });
    try {
      await whenOnline(this.conn, signal);
    } finally {
      this.notice(null);
    }
  }

  private async openUploadsOfSize(size: number, signal: AbortSignal): Promise<OpenUpload[]> {
    // Best effort, but not while offline: an empty answer would open a second session.
    await this.networkBack(signal);
    try {
      const uploads = await this.calls.openUploads(signal);
      return uploads.filter((u) => u.fileSize === size && !(u.expiresAt <= Date.now()));
    } catch (e) {
      if (signal.aborted) throw e;
      return [];
    }
  }

  /** This file's content id over parts of `partSize` (hashed once per size). */
  private async contentIdFor(partSize: number, signal: AbortSignal): Promise<string | null> {
    if (this.predictedParts && this.contentId && this.predictedParts.plan.partSize === partSize) return this.contentId;
    if (!this.idsByPartSize.has(partSize)) {
      const hashed = await this.ctx.hasher.hash(this.file, { partSize, what: "parts", signal });
      this.idsByPartSize.set(partSize, hashed.parts ? await contentId(hashed.parts) : null);
    }
    return this.idsByPartSize.get(partSize) ?? null;
  }

  private resumeTicket(fileId: string, signal: AbortSignal): Promise<ResumeResponse> {
    return this.calls.resume(fileId, signal);
  }

  private async optimalEdges(size: number, predicted: PartPlan | null, signal: AbortSignal): Promise<OptimalEdgesResponse> {
    const body: Record<string, unknown> = {
      fileSize: size,
      fileName: this.p.fileName,
      priority: "speed",
      threads: Math.max(1, this.opts.concurrency),
    };
    if (predicted) body.chunkSize = predicted.partSize;
    if (predicted && this.contentId && this.predictedParts && samePlan(this.predictedParts.plan, predicted)) {
      body.contentId = this.contentId;
    }
    // Declared now only when already known; else at finalize.
    if (this.fileHash) body.fileHash = this.fileHash;
    if (!body.contentId && !body.fileHash && !this.namingLater) body.fileHash = await this.wholeHash(signal);
    const type = this.opts.contentType ?? (this.file.type || undefined);
    if (type) body.contentType = type;
    if (this.opts.expiresIn) body.expiresIn = this.opts.expiresIn;
    return this.calls.openSession(body, signal);
  }

  /** Offers parts by digest for copying from what the account already stores (100 per
   * request); the parts the store copied. Best effort: a failure only means they are sent. */
  private async reuseStoredParts(fileId: string, parts: number[], signal: AbortSignal): Promise<Set<number>> {
    const copied = new Set<number>();
    for (let i = 0; i < parts.length; i += MAX_REUSE_OFFERS) {
      const offers = parts.slice(i, i + MAX_REUSE_OFFERS).map((part) => ({ part, sha256: this.partHashes.get(part) as string }));
      await this.networkBack(signal);
      try {
        for (const n of await this.calls.copyParts(fileId, offers, signal)) copied.add(n);
      } catch (e) {
        if (signal.aborted) throw e;
        break;
      }
    }
    return copied;
  }

  /** The digests of `plan`'s parts (natively, several at once) and their content id. */
  private async hashParts(plan: PartPlan, signal: AbortSignal, onProgress: (bytes: number) => void) {
    const hashed = await this.ctx.hasher.hash(this.file, { partSize: plan.partSize, what: "parts", signal, onProgress });
    if (hashed.parts?.length === plan.partCount) {
      this.predictedParts = { plan, digests: hashed.parts };
      this.contentId = await contentId(hashed.parts);
    } else {
      this.predictedParts = null;
      this.contentId = null;
    }
  }

  /** The naming pass of an upload opened without an identity: one read of the file hashes
   * every part (a sender waiting for its part's digest gets it as soon as it is known) and the
   * whole file, then `identify` names the content. Stored already: the senders stop and the
   * upload ends as a duplicate. Else the parts not sent yet are offered for copying in the
   * store, as a hash-first upload's are before it sends any.
   *
   * Until it is named at most `UNNAMED_PARTS` parts start, unless the account stores none of
   * the first ones (asked as soon as they are hashed): then the file is new where it begins
   * and goes at full speed. If it stores some (another device's upload of this file, or an
   * earlier version), the one-read pass is given up for a parts-only one — native digests,
   * several at once — so the naming does not wait for the whole-file hash in WebAssembly,
   * which then runs only if the content turns out not to be stored. */
  private startNaming(
    plan: PartPlan,
    fileId: string,
    scheduler: PartScheduler,
    calls: <T>(call: () => Promise<T>) => Promise<T>,
    signal: AbortSignal,
  ) {
    const first = Math.min(UNNAMED_PARTS, plan.partCount);
    scheduler.limitStarts(UNNAMED_PARTS);
    const lift = () => {
      scheduler.limitStarts(null);
      this.poke();
    };
    // The one-read pass, given up when the file's first parts are stored.
    const oneRead = new AbortController();
    const stopOneRead = () => oneRead.abort(signal.reason);
    signal.addEventListener("abort", stopOneRead, { once: true });
    let startStored = false;
    let asked = false;
    const onPart = (part: number, sha256: string) => {
      this.partKnown(part, sha256);
      if (asked) return;
      for (let n = 1; n <= first; n++) if (!this.partHashes.has(n)) return;
      asked = true;
      void this.startIsStored(fileId, first, signal).then((stored) => {
        if (!stored) return lift();
        startStored = true;
        oneRead.abort(START_STORED);
      });
    };
    const onProgress = (bytes: number) => (this.p.hashedBytes = bytes);
    const pass = async (): Promise<Duplicate | null> => {
      let hashed;
      try {
        try {
          hashed = await this.ctx.hasher.hash(this.file, { partSize: plan.partSize, what: "both", signal: oneRead.signal, onPart, onProgress });
          this.fileHash = hashed.sha256 as string;
        } catch (e) {
          if (signal.aborted || !startStored) throw e;
          hashed = await this.ctx.hasher.hash(this.file, {
            partSize: plan.partSize,
            what: "parts",
            signal,
            onPart: (part, sha256) => this.partKnown(part, sha256),
            onProgress,
          });
        }
      } finally {
        signal.removeEventListener("abort", stopOneRead);
        // Senders still waiting (the pass failed) hash their parts themselves.
        this.namingHashed = true;
        for (const w of this.partWaiters.values()) w.reject(new Error("the naming pass ended"));
        this.partWaiters.clear();
      }
      if (!hashed.parts || hashed.parts.length !== plan.partCount) return null;
      hashed.parts.forEach((h, i) => this.partHashes.set(i + 1, h));
      this.contentId = await contentId(hashed.parts);
      const id = this.contentId;
      let duplicate: Duplicate | null;
      let held: number[] | null = null;
      try {
        for (;;) {
          try {
            duplicate = await calls(() => this.calls.identify(fileId, id, signal));
            break;
          } catch (e) {
            if (!(e instanceof JettyError) || e.code !== "upload_in_progress") throw e;
            // Another upload in this account is sending the same bytes: the parts not sent yet
            // wait, and the question is asked again (a duplicate once that one is stored).
            held ??= scheduler.hold();
            const after = Number((e.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 2);
            await sleep(Math.max(1, after) * 1000, signal);
          }
        }
      } catch (e) {
        if (held) scheduler.release([], held);
        this.poke();
        if (signal.aborted) throw e;
        // Unnamed, the upload still completes (finalize takes the id from the parts the store
        // checked); meanwhile it cannot be found by its content.
        return null;
      }
      if (held) scheduler.release([], held);
      if (duplicate) {
        // Named by its verified content id: the stored file's hash is this file's (one stored
        // without it leaves the whole-file pass to run: `this.whole`).
        const stored = normalizeHash(duplicate.sha256);
        if (!this.fileHash && stored) this.fileHash = stored;
        this.sendCtl.abort(DUPLICATE);
        this.poke();
        return duplicate;
      }
      if (this.record) {
        this.record.contentId = this.contentId;
        this.record.fileHash = this.fileHash;
        await this.ctx.store.put(this.record).catch(() => {});
      }
      await this.reuseHeldParts(fileId, scheduler, signal);
      return null;
    };
    this.naming = pass().finally(lift);
    this.naming.catch(() => {});
    // Named without the whole file (its start was stored) and not a duplicate: hashed now.
    this.whole = this.naming.then(async () => this.fileHash || (await this.hashWholeFile(signal)));
    this.whole.catch(() => {});
  }

  /** Whether the account stores any of the first `count` parts (their digests known), asked
   * without copying. No answer counts as stored: the parts then wait for the naming, which
   * comes soon. */
  private async startIsStored(fileId: string, count: number, signal: AbortSignal): Promise<boolean> {
    const parts = Array.from({ length: count }, (_, i) => ({ part: i + 1, sha256: this.partHashes.get(i + 1) as string }));
    await this.networkBack(signal);
    try {
      return (await this.calls.storedParts(fileId, parts, signal)).length > 0;
    } catch {
      return true;
    }
  }

  /** The whole file's SHA-256 in a pass of its own. */
  private async hashWholeFile(signal: AbortSignal): Promise<string> {
    const r = await this.ctx.hasher.hash(this.file, { what: "whole", signal });
    this.fileHash = r.sha256 as string;
    return this.fileHash;
  }

  /** A part's digest from the naming pass, to whoever waits for it. */
  private partKnown(part: number, sha256: string) {
    this.partHashes.set(part, sha256);
    const w = this.partWaiters.get(part);
    this.partWaiters.delete(part);
    w?.resolve(sha256);
  }

  /** The parts still queued once the content is named are offered for copying in the store
   * (an earlier version of the file); the others go back to the queue. */
  private async reuseHeldParts(fileId: string, scheduler: PartScheduler, signal: AbortSignal) {
    const held = scheduler.hold();
    let copied = new Set<number>();
    try {
      if (held.length > 1) copied = await this.reuseStoredParts(fileId, held, signal);
    } finally {
      scheduler.release(copied, held.filter((n) => !copied.has(n)));
      this.poke();
    }
    if (copied.size === 0) return;
    const plan = this.plan as PartPlan;
    this.p.partsReused += copied.size;
    this.p.partsDone += copied.size;
    for (const n of copied) this.p.bytesDone += partLen(plan, n) ?? 0;
    this.emitProgress(true);
  }

  /** Starts the whole-file SHA-256 in the background (cancelled with the upload). */
  private startWholeHash(signal: AbortSignal) {
    if (this.whole || this.fileHash) return;
    const ctl = new AbortController();
    const stop = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    this.wholeCancel = ctl;
    this.whole = this.hashWholeFile(ctl.signal).finally(() => signal.removeEventListener("abort", stop));
    // Awaited later (or never, for a duplicate): a failure here is not unhandled.
    this.whole.catch(() => {});
  }

  /** The whole file's SHA-256, waiting for the background hash if it is still running. */
  private async wholeHash(signal: AbortSignal): Promise<string> {
    if (this.fileHash) return this.fileHash;
    this.startWholeHash(signal);
    return this.whole as Promise<string>;
  }

  /** Whether a session (or local record) is for this file's bytes: by the content id over its
   * plan's parts when it has one, else by the whole-file hash. */
  private async sameContent(
    other: { contentId?: string | null; fileHash?: string | null; partSize?: number },
    signal: AbortSignal,
  ): Promise<boolean> {
    if (other.contentId && other.partSize && other.partSize > 0) return other.contentId === (await this.contentIdFor(other.partSize, signal));
    const theirs = normalizeHash(other.fileHash);
    if (!theirs) return false;
    return theirs === (await this.wholeHash(signal));
  }

  private reportEdge(edge: EdgeInfo, reason: string) {
    if (!this.p.failedEdges.includes(edge.id)) this.p.failedEdges.push(edge.id);
    this.emit("edgeFailed", { edgeId: edge.id, reason });
    // Best effort: a lost report only means the edge is ranked lower a little later.
    this.calls.reportEdge(edge.id, reason).catch(() => {});
  }

  // ---------------------------------------------------------------------------------------
  // The driver loop.

  private cancelAll(reason: symbol) {
    for (const f of this.inflight.values()) f.ctl.abort(reason);
    this.inflight.clear();
  }

  private async sendParts(scheduler: PartScheduler, signal: AbortSignal): Promise<void> {
    const now = this.ctx.now;
    let waiting = false;
    const tell = (n: RetryNotice | null) => {
      if (n || waiting) this.notice(n);
      waiting = n !== null;
    };
    const act = (a: Assignment, outcome: Outcome, action: Action, error: JettyError | null) => {
      if ((action.type === "retry" || action.type === "backoff") && action.report !== null) {
        this.reportEdge(this.edges[action.report], error?.message ?? outcome);
      }
      switch (action.type) {
        case "backoff":
          tell({ trouble: outcome === "storeFailed" ? "store unavailable" : "edges failing", delayMs: action.delayMs });
          break;
        case "giveUp": {
          const failing = scheduler.failingFor(now());
          const err = error ?? new JettyError("server", `part ${a.part} failed`);
          throw failing !== null && err.isOutage ? err.afterRetries(failing) : err;
        }
        default:
          if (outcome === "sent") tell(null);
      }
    };
    // Offline since this pass noticed it: back online, the scheduler forgives what failed.
    let wentOffline = false;
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        const t = now();
        // Failures while the device has no network are the network's, not the edges' or the
        // store's: nobody is blamed, nothing is counted, and the parts wait for it below.
        const offline = !this.conn.online();
        for (const f of this.inflight.values()) {
          const until = movingUntil(f);
          if (until !== null) scheduler.onProgress(f.a.part, until);
        }
        for (const [a, action] of offline ? [] : scheduler.handleTimeout(t)) {
          this.inflight.get(a.part)?.ctl.abort(DEADLINE);
          this.inflight.delete(a.part);
          const host = this.edges[a.edge]?.id ?? String(a.edge);
          act(a, "timedOut", action, new JettyError("network", `part ${a.part} got no answer from edge ${host} before its deadline`));
        }
        const answers = this.answers;
        this.answers = [];
        for (const ans of answers) {
          const lostToOffline = offline && (ans.outcome === "edgeFailed" || ans.outcome === "storeFailed");
          const action = scheduler.onResult(ans.a.part, ans.a.edge, lostToOffline ? "resend" : ans.outcome, now());
          const current = this.inflight.get(ans.a.part);
          if (current && current.a === ans.a) this.inflight.delete(ans.a.part);
          if (ans.outcome === "sent" && (action.type === "continue" || action.type === "done")) this.stored(ans.a, ans.receipt);
          act(ans.a, ans.outcome, action, ans.error);
        }
        if (scheduler.isDone()) break;
        if (wentOffline && !offline) {
          // Back online (paused meanwhile or not): nothing is in flight since it went.
          wentOffline = false;
          scheduler.forgive();
          this.p.failedEdges = [];
          tell(null);
        }
        // Sleeps until poked (an answer, pause/resume, abort, the network going or coming) —
        // unless that already happened while the events above ran their listeners.
        const idle = (asleepWhile: () => boolean) =>
          new Promise<void>((r) => {
            if (signal.aborted || !asleepWhile()) return r();
            this.wake = r;
          });
        if (this.paused) {
          // Parts in flight go back to the queue; their answers, if any still come, are dropped.
          for (const a of scheduler.requeueAll()) {
            this.inflight.get(a.part)?.ctl.abort(PAUSED);
            this.inflight.delete(a.part);
          }
          if (this.stateName === "uploading") this.setState("paused");
          this.emitProgress(true);
          await idle(() => this.paused);
          continue;
        }
        if (offline) {
          // Like a pause the upload did not ask for: parts in flight go back to the queue
          // (their connections died with the network), and the loop sleeps until the device
          // is online again (or paused, or aborted).
          for (const a of scheduler.requeueAll()) {
            this.inflight.get(a.part)?.ctl.abort(OFFLINE);
            this.inflight.delete(a.part);
          }
          if (!wentOffline) tell({ trouble: "offline", delayMs: 0 });
          wentOffline = true;
          this.emitProgress(true);
          await idle(() => !this.paused && !this.conn.online());
          continue;
        }
        if (this.stateName === "paused") this.setState("uploading");
        for (let a = scheduler.next(now()); a; a = scheduler.next(now())) this.start(a, signal);
        this.emitProgress();
        const wakeAt = scheduler.pollTimeout();
        await new Promise<void>((resolve) => {
          if (this.answers.length > 0) return resolve();
          // Progress ticks at least every 500 ms while parts are in flight (speed, ETA).
          const ms = Math.min(wakeAt === null ? 500 : Math.max(0, wakeAt - now()), 500);
          const timer = setTimeout(() => {
            this.wake = null;
            resolve();
          }, ms);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      this.wake = null;
      // However sending ended (done, a duplicate found meanwhile, a failure), no outage notice
      // outlives it.
      if (waiting) this.notice(null);
    }
    this.emitProgress(true);
  }

  private stored(a: Assignment, receipt: ChunkReceipt | null) {
    const plan = this.plan as PartPlan;
    const len = partLen(plan, a.part) ?? 0;
    const edgeId = receipt?.edgeId || this.edges[a.edge]?.id || String(a.edge);
    this.p.perEdge[edgeId] = (this.p.perEdge[edgeId] ?? 0) + len;
    this.p.partsSent += 1;
    this.p.partsDone += 1;
    this.p.bytesDone += len;
    this.emitProgress(true);
  }

  /** Sends part `a.part` to its edge in the background; its answer is queued for the loop. */
  private start(a: Assignment, signal: AbortSignal) {
    const plan = this.plan as PartPlan;
    const len = partLen(plan, a.part) ?? 0;
    const offset = partOffset(plan, a.part) ?? 0;
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const f: InFlight = { a, ctl, sent: 0, len, movedAt: null, firstMoved: null };
    this.inflight.set(a.part, f);
    const edge = this.edges[a.edge];
    const finish = (outcome: Outcome, error: JettyError | null, receipt: ChunkReceipt | null) => {
      signal.removeEventListener("abort", onAbort);
      if (ctl.signal.aborted) return; // paused, past its deadline or aborted: already handled
      if (outcome === "storeFailed") this.storeSuspect = true;
      else if (outcome === "sent") this.storeSuspect = false;
      this.answers.push({ a, outcome, error, receipt });
      this.poke();
    };
    this.sendOne(edge, a.part, offset, len, f, ctl.signal).then(
      ([outcome, error, receipt]) => finish(outcome, error, receipt),
      (e) => finish("failed", e instanceof JettyError ? e : new JettyError("local", String((e as Error)?.message ?? e)), null),
    );
  }

  private async partHash(part: number, blob: Blob, signal: AbortSignal, fresh = false): Promise<string> {
    const known = fresh ? undefined : this.partHashes.get(part);
    if (known) return known;
    if (!fresh && this.naming && !this.namingHashed) {
      // The naming pass is reading the file in order: its digest comes soon, at no extra read.
      let w = this.partWaiters.get(part);
      if (!w) this.partWaiters.set(part, (w = deferred<string>()));
      try {
        return await untilAborted(w.promise, signal);
      } catch (e) {
        if (signal.aborted) throw e;
      }
    }
    const h = (await this.ctx.hasher.hash(blob, { signal })).sha256 as string;
    this.partHashes.set(part, h);
    return h;
  }

  private async sendOne(
    edge: EdgeInfo,
    part: number,
    offset: number,
    len: number,
    f: InFlight,
    signal: AbortSignal,
  ): Promise<[Outcome, JettyError | null, ChunkReceipt | null]> {
    const body = this.file.slice(offset, offset + len);
    const sha256 = await this.partHash(part, body, signal);
    // Paused (or past its deadline) while its hash was awaited: not sent at all.
    signal.throwIfAborted();
    // After a store failure a body goes out only once the edge says the store answers again,
    // so an outage costs these small requests, not parts sent again.
    if (this.storeSuspect && this.ctx.storeCheck) {
      let check;
      try {
        check = await this.ctx.storeCheck(edge.url, this.token, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        const err = e instanceof JettyError ? e : new JettyError("network", String((e as Error)?.message ?? e));
        return [blame(err), err, null];
      }
      // 404/405: an edge from before the check; send.
      if (check.status >= 300 && check.status !== 404 && check.status !== 405) {
        const err = errorFromAnswer(check.status, check.text);
        return [blame(err), err, null];
      }
    }
    const url = `${edge.url.replace(/\/+$/, "")}/api/edge/upload-chunk?part=${part}`;
    let answer;
    try {
      answer = await this.ctx.transport({
        url,
        token: this.token,
        sha256,
        body,
        signal,
        onProgress: (sent) => {
          const delta = Math.max(0, Math.min(sent, len) - f.sent);
          f.sent += delta;
          if (delta > 0) {
            f.movedAt = this.ctx.now();
            f.firstMoved ??= { at: f.movedAt, sent: f.sent };
          }
          this.p.bytesSent += delta;
          this.emitProgress();
        },
      });
    } catch (e) {
      if (signal.aborted) throw e;
      const err = e instanceof JettyError ? e : new JettyError("network", String((e as Error)?.message ?? e));
      return [blame(err), err, null];
    }
    if (answer.status >= 200 && answer.status < 300) {
      try {
        const receipt = JSON.parse(answer.text) as ChunkReceipt;
        return ["sent", null, receipt];
      } catch {
        const err = new JettyError("server", `unreadable answer from edge ${edge.id}`, { status: answer.status });
        return ["edgeFailed", err, null];
      }
    }
    const err = errorFromAnswer(answer.status, answer.text);
    if (err.code === "chunk_hash_mismatch") return this.onHashMismatch(part, body, sha256, err, signal);
    if (err.code === "upload_token_expired") {
      await this.refreshToken(signal);
      return ["resend", err, null];
    }
    if (err.code === "session_not_active" && this.record) {
      // The session is gone for good: forget it, so the next try starts afresh.
      await this.ctx.store.delete(this.record.key).catch(() => {});
    }
    return [blame(err), err, null];
  }

  /** The store refused a body that did not match its hash. Read and hash the part again: the
   * same hash means the bytes were damaged on the way (send again, a few times at most); a
   * different one means the file changed since it was hashed (fail: the file's hash is wrong). */
  private async onHashMismatch(
    part: number,
    body: Blob,
    sent: string,
    err: JettyError,
    signal: AbortSignal,
  ): Promise<[Outcome, JettyError | null, ChunkReceipt | null]> {
    const again = await this.partHash(part, body, signal, true);
    if (again !== sent) {
      return ["failed", new JettyError("integrity", `${this.p.fileName} changed while it was being uploaded (part ${part})`), null];
    }
    const n = (this.hashRetriesByPart.get(part) ?? 0) + 1;
    this.hashRetriesByPart.set(part, n);
    if (n > this.opts.maxHashRetries) return ["refused", err, null];
    this.p.hashRetries += 1;
    return ["resend", err, null];
  }

  /** A fresh upload token for the session (one request for all parts that need it). */
  private refreshToken(signal: AbortSignal): Promise<void> {
    const fileId = this.sessionFileId as string;
    // Shared by every part that needs it, so it runs under the upload's signal, not the first
    // part's (a part cancelled by a pause, its deadline or the network going must not fail the
    // others' refresh); each part stops waiting when it is cancelled itself.
    const whole = this.abortCtl.signal;
    this.tokenRefresh ??= withRetries(this.retry, () => this.resumeTicket(fileId, whole), { notice: this.notice, signal: whole, connectivity: this.conn })
      .then(
        (t) => {
          this.token = t.upload.uploadToken;
          setTimeout(() => (this.tokenRefresh = null), 1000);
        },
        (e) => {
          this.tokenRefresh = null;
          throw e;
        },
      );
    return untilAborted(this.tokenRefresh, signal);
  }
}

