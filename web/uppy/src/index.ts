// @jettyspeed/uppy: an Uppy uploader plugin that sends each file through JettySpeed with the
// browser SDK (@jettyspeed/sdk) — parts hashed, spread over the edges, verified by the store,
// resumable after a reload — so an existing Uppy setup (Dashboard, Drag & Drop, …) uploads
// through JettySpeed by swapping its uploader plugin.

import type { Body, DefinePluginOpts, Meta, PluginOpts, Uppy, UppyFile } from "@uppy/core";
import { BasePlugin, EventManager } from "@uppy/core";
import { filterFilesToEmitUploadStarted, filterFilesToUpload } from "@uppy/core/utils";
import {
  defaultHasher,
  IndexedDbRecordStore,
  JettyClient,
  JettyError,
  MemoryRecordStore,
  type ClientOptions,
  type Hasher,
  type RecordStore,
  type Upload,
  type UploadOptions,
  type UploadProgress,
  type UploadResult,
} from "@jettyspeed/sdk";

export const VERSION = "0.1.0";

export interface JettySpeedOptions extends PluginOpts {
  /** The coordinator's origin, e.g. `https://jetty.example.com` (default: this page's origin). */
  baseUrl?: string;
  /** The account's API key, or a function returning it (asked before each file starts, so a
   * key can be fetched from your backend or rotated). */
  apiKey: string | (() => string | Promise<string>);
  /** Where the SDK's hashing worker (`@jettyspeed/sdk/hash-worker`) is served, same origin.
   * Without it, hashing runs on the page's thread. */
  workerUrl?: string | URL;
  /** Parts in flight at once per file, across the edges (the SDK's default, 8). */
  concurrency?: number;
  /** Files uploading at once (2; 0: no limit). A paused file gives its place up. */
  limit?: number;
  /** Further options for every file's upload (`partSize`, `retry`, `partTimeoutMs`, …). */
  uploadOptions?: Omit<UploadOptions, "concurrency" | "paused">;
  /** Further client options: the seams the SDK offers (`hasher`, `store`, `transport`,
   * `fetch`, …). */
  clientOptions?: Omit<ClientOptions, "baseUrl" | "apiKey" | "workerUrl">;
}

/** What `upload-success` carries as `response.body` (and `file.response.body` afterwards): the
 * SDK's result — `fileId`, `url`, `sha256`, `size`, `duplicate`, `resumed`, `partsSent`, … */
export type JettySpeedBody = { [K in keyof UploadResult]: UploadResult[K] };

/** What `upload-error` carries as `response.body`: the SDK's error. */
export type JettySpeedErrorBody = {
  error: { code: string | null; kind: string; message: string; status: number | null; details?: unknown };
};

/** The error `upload-error` is emitted with: its message ends with the SDK's error code in
 * brackets (`… [invalid_api_key]`; the error kind when the server gave no code); `code`,
 * `kind` and `status` are the SDK's, and `cause` is the SDK's `JettyError` (with `details`). */
export class JettySpeedUploadError extends Error {
  readonly code: string | null;
  readonly kind: string;
  readonly status: number | null;

  constructor(cause: JettyError) {
    super(`${cause.message} [${cause.code ?? cause.kind}]`, { cause });
    this.name = "JettySpeedUploadError";
    this.code = cause.code;
    this.kind = cause.kind;
    this.status = cause.status;
  }
}

const defaultOptions = { limit: 2 } satisfies Partial<JettySpeedOptions>;

type Opts = DefinePluginOpts<JettySpeedOptions, keyof typeof defaultOptions>;

declare module "@uppy/core" {
  export interface PluginTypeRegistry<M extends Meta, B extends Body> {
    JettySpeed: JettySpeed<M, B>;
  }
}

/** At most `limit` holders at once (no limit when 0 or less), granted in the order asked. */
class Slots {
  private free: number;
  private readonly line: Array<{ grant(): void }> = [];

  constructor(limit: number) {
    this.free = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  }

  /** Joins the line; `granted` runs (asynchronously) once a slot is this ticket's. `release()`
   * gives the slot back, or leaves the line if it was not granted yet. */
  request(granted: () => void): { release(): void } {
    let held = false;
    let gone = false;
    const ticket = {
      grant: () => {
        held = true;
        this.free -= 1;
        queueMicrotask(() => gone || granted());
      },
      release: () => {
        if (gone) return;
        gone = true;
        if (held) {
          this.free += 1;
          this.pump();
        } else {
          const i = this.line.indexOf(ticket);
          if (i >= 0) this.line.splice(i, 1);
        }
      },
    };
    this.line.push(ticket);
    this.pump();
    return { release: ticket.release };
  }

  private pump() {
    while (this.free > 0 && this.line.length > 0) this.line.shift()?.grant();
  }
}

/** A running file: how to stop it for good (removed, cancelled, plugin uninstalled). */
interface Running {
  cancel(opts: { keepSession: boolean }): void;
}

/**
 * The JettySpeed uploader: `uppy.use(JettySpeed, { baseUrl, apiKey, workerUrl })`.
 *
 * Each file is one SDK upload (`JettyClient.upload(file.data)`): its progress is Uppy's
 * `upload-progress` (the hashing before it `preprocess-progress`), its result `upload-success`
 * with the SDK's result as the body and the file's URL as `uploadURL`, its failure
 * `upload-error` with the SDK's error code in the message. Uppy's pause/resume (per file and
 * all) pause and resume the SDK upload; removing a file or cancelling all aborts it and
 * discards its session. A file picked again after a reload continues its session (the SDK keeps
 * it in IndexedDB).
 */
export default class JettySpeed<M extends Meta, B extends Body> extends BasePlugin<Opts, M, B> {
  static VERSION = VERSION;

  private slots: Slots;
  /** The hashing worker this plugin started (one for every file), if any. */
  private ownHasher: Hasher | null = null;
  /** Where unfinished uploads are remembered (IndexedDB in a browser), unless given. */
  private ownStore: RecordStore | null = null;
  private client: { key: string; client: JettyClient } | null = null;
  private readonly running = new Map<string, Running>();

  constructor(uppy: Uppy<M, B>, opts: JettySpeedOptions) {
    super(uppy, { ...defaultOptions, ...opts });
    this.type = "uploader";
    this.id = this.opts.id ?? "JettySpeed";
    this.slots = new Slots(this.opts.limit);
  }

  override setOptions(newOpts: Partial<Opts>): void {
    const limit = this.opts.limit;
    super.setOptions(newOpts);
    // A new key, coordinator, worker or limit applies to the files started from now on (the
    // running ones keep theirs).
    this.client = null;
    if (newOpts.workerUrl !== undefined) this.ownHasher = null;
    if (this.opts.limit !== limit) this.slots = new Slots(this.opts.limit);
  }

  override install(): void {
    const { capabilities } = this.uppy.getState();
    this.uppy.setState({ capabilities: { ...capabilities, resumableUploads: true } });
    this.uppy.addUploader(this.handleUpload);
  }

  override uninstall(): void {
    const { capabilities } = this.uppy.getState();
    this.uppy.setState({ capabilities: { ...capabilities, resumableUploads: false } });
    this.uppy.removeUploader(this.handleUpload);
    // Like closing the tab: the sessions stay, and picking the files again continues them.
    for (const r of [...this.running.values()]) r.cancel({ keepSession: true });
    this.ownHasher?.close?.();
    this.ownHasher = null;
    this.client = null;
  }

  /** The SDK client for the current API key (one per key; the hasher and the record store are
   * shared, so one hashing worker serves every file). */
  private async jettyClient(): Promise<JettyClient> {
    const { apiKey } = this.opts;
    const key = typeof apiKey === "function" ? await apiKey() : apiKey;
    if (this.client?.key === key) return this.client.client;
    const extra = this.opts.clientOptions ?? {};
    const hasher = extra.hasher ?? (this.ownHasher ??= defaultHasher(this.opts.workerUrl));
    const store = extra.store ?? (this.ownStore ??= typeof indexedDB !== "undefined" ? new IndexedDbRecordStore() : new MemoryRecordStore());
    const client = new JettyClient({
      ...extra,
      baseUrl: this.opts.baseUrl,
      apiKey: key,
      workerUrl: this.opts.workerUrl,
      hasher,
      store,
    });
    this.client = { key, client };
    return client;
  }

  private handleUpload = async (fileIDs: string[]): Promise<void> => {
    if (fileIDs.length === 0) return;
    const files = filterFilesToUpload(this.uppy.getFilesByIds(fileIDs)) as UppyFile<M, B>[];
    this.uppy.emit("upload-start", filterFilesToEmitUploadStarted(files) as UppyFile<M, B>[]);
    // Every file settles by itself (success, error or cancelled): Uppy collects the outcome
    // from each file's state.
    await Promise.allSettled(files.map((f) => this.uploadFile(f)));
  };

  /** The bytes to send: `file.data` itself when its name is Uppy's, else a File of that name
   * over the same bytes (nothing is copied). */
  private source(file: UppyFile<M, B>): (Blob & { name?: string; lastModified?: number }) | null {
    if (file.isRemote) return null;
    const data = file.data;
    if (!data) return null;
    const name = file.meta.name ?? file.name;
    if (typeof File !== "undefined" && data instanceof File && data.name === name) return data;
    const lastModified = typeof File !== "undefined" && data instanceof File ? data.lastModified : 0;
    // A Blob has no modification time: 0 keeps its local resume record findable.
    return new File([data], name, { type: data.type, lastModified });
  }

  private uploadFile(file: UppyFile<M, B>): Promise<void> {
    return new Promise<void>((resolve) => {
      const id = file.id;
      const events = new EventManager(this.uppy);
      let ticket: { release(): void } | null = null;
      let upload: Upload | null = null;
      let hashing = false;
      let finished = false;

      const current = () => this.uppy.getFile(id) as UppyFile<M, B> | undefined;
      const finish = () => {
        if (finished) return;
        finished = true;
        ticket?.release();
        ticket = null;
        events.remove();
        this.running.delete(id);
        resolve();
      };
      const endHashing = () => {
        if (!hashing) return;
        hashing = false;
        this.uppy.emit("preprocess-complete", current());
      };
      const fail = (e: unknown) => {
        if (finished) return;
        endHashing();
        const cause = e instanceof JettyError ? e : new JettyError("local", String((e as Error)?.message ?? e));
        const error = new JettySpeedUploadError(cause);
        const body: JettySpeedErrorBody = {
          error: { code: cause.code, kind: cause.kind, message: cause.message, status: cause.status, details: cause.details },
        };
        this.uppy.emit("upload-error", current(), error, { status: cause.status ?? 0, body: body as unknown as B });
        finish();
      };
      const succeed = (r: UploadResult) => {
        if (finished) return;
        endHashing();
        const body: JettySpeedBody = { ...r };
        this.uppy.emit("upload-success", current(), { status: 200, body: body as unknown as B, uploadURL: r.url });
        finish();
      };
      const onProgress = (p: UploadProgress) => {
        const f = current();
        if (finished || !f) return;
        if (p.state === "hashing") {
          hashing = true;
          this.uppy.emit("preprocess-progress", f, {
            mode: "determinate",
            message: "Hashing",
            value: p.fileSize > 0 ? p.hashedBytes / p.fileSize : 1,
          });
          return;
        }
        endHashing();
        this.uppy.emit("upload-progress", f, {
          uploadStarted: f.progress.uploadStarted ?? Date.now(),
          bytesUploaded: p.bytesUploaded,
          bytesTotal: p.fileSize,
        });
      };

      const start = async () => {
        const data = this.source(file);
        if (!data) {
          fail(
            file.isRemote
              ? new JettyError("local", "JettySpeed uploads local files only", { code: "remote_file_unsupported" })
              : new JettyError("local", "the file's bytes are gone: add the file again", { code: "no_file_data" }),
          );
          return;
        }
        let client: JettyClient;
        try {
          client = await this.jettyClient();
        } catch (e) {
          fail(e);
          return;
        }
        if (finished) return;
        const type = (file.meta.type as string | undefined) || file.type || undefined;
        const opts: UploadOptions = { ...this.opts.uploadOptions, paused: !ticket };
        if (this.opts.concurrency) opts.concurrency = this.opts.concurrency;
        if (type && !opts.contentType) opts.contentType = type;
        const up = client.upload(data, opts);
        upload = up;
        up.on("progress", onProgress);
        up.on("retry", (n) => {
          const f = current();
          if (!n || !f) return;
          const message = n.trouble === "offline" ? "offline, waiting for the network" : `${n.trouble}, retrying`;
          this.uppy.emit("upload-stalled", { message, details: f.name }, [f]);
        });
        up.result.then(succeed, (e) => {
          // Aborted by us (removed, cancelled): already settled.
          if (!(e instanceof JettyError && e.kind === "aborted")) fail(e);
          else finish();
        });
      };
      // Wants a slot to send; once granted, starts the SDK upload or resumes it.
      const go = () => {
        if (finished || ticket) return;
        ticket = this.slots.request(() => {
          if (finished) return;
          if (upload) upload.resume();
          else void start();
        });
      };
      // Paused: the SDK upload stops sending (parts in flight go back to its queue) and the slot
      // goes to the next file.
      const stop = () => {
        upload?.pause();
        ticket?.release();
        ticket = null;
      };
      const cancel = ({ keepSession }: { keepSession: boolean }) => {
        upload?.abort({ keepSession });
        endHashing();
        finish();
      };

      this.running.set(id, { cancel });
      events.onFileRemove(id, () => cancel({ keepSession: false }));
      events.onCancelAll(id, () => cancel({ keepSession: false }));
      events.onPause(id, (paused) => (paused ? stop() : go()));
      events.onPauseAll(id, stop);
      events.onResumeAll(id, go);
      if (current()?.isPaused) return;
      go();
    });
  }
}

export { JettySpeed };
