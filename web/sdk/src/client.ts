// The SDK's entry point: a client for one coordinator and API key.

import { Api } from "./api.js";
import { checkedConnectivity, deviceConnectivity, probeOrigin, type Connectivity } from "./connectivity.js";
import { defaultHasher, type Hasher } from "./hash.js";
import { defaultRecordStore, type LocalRecord, type RecordStore } from "./resume.js";
import { defaultTransport, storeCheckOver, type PartTransport, type StoreCheck } from "./transport.js";
import type { ListOptions, OpenUpload, Page, StoredFile, UploadState } from "./types.js";
import { Upload, type UploadOptions } from "./upload.js";

export interface ClientOptions {
  /** The coordinator's origin, e.g. `https://jetty.example.com` (default: this page's origin). */
  baseUrl?: string;
  apiKey: string;
  /** Where the hashing worker script is served (`dist/hash-worker.js`, or the coordinator's
   * `/upload/hash-worker.js?v=…`). Without it (or without Web Workers) hashing runs on this
   * thread. */
  workerUrl?: string | URL;
  /** Replaces the hasher (tests, Node). */
  hasher?: Hasher;
  /** Where unfinished uploads are remembered (IndexedDB in a browser, memory elsewhere). */
  store?: RecordStore;
  /** Replaces how parts are sent (XMLHttpRequest in a browser, fetch elsewhere). */
  transport?: PartTransport;
  fetch?: typeof fetch;
  /** Clock in ms (monotonic by default) and jitter source, for tests. */
  now?: () => number;
  random?: () => number;
  /** Whether the device has a network (default: `navigator.onLine` and its events, checked by
   * asking the coordinator's `/health` every 30 s while it says offline; always online where
   * there is no such thing). Uploads wait out an offline device for as long as it lasts,
   * without spending their retry budget. */
  connectivity?: Connectivity;
  /** Defaults for every upload. */
  defaults?: UploadOptions;
}

export class JettyClient {
  readonly baseUrl: string;
  readonly api: Api;
  readonly hasher: Hasher;
  readonly store: RecordStore;
  private readonly transport: PartTransport;
  private readonly storeCheck: StoreCheck;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly connectivity: Connectivity;
  private readonly defaults: UploadOptions;

  constructor(opts: ClientOptions) {
    const origin = typeof location !== "undefined" ? location.origin : undefined;
    const base = opts.baseUrl ?? origin;
    if (!base) throw new TypeError("baseUrl is required outside a browser page");
    this.baseUrl = base.replace(/\/+$/, "");
    const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.api = new Api(this.baseUrl, opts.apiKey, f);
    this.hasher = opts.hasher ?? defaultHasher(opts.workerUrl);
    this.store = opts.store ?? defaultRecordStore();
    this.transport = opts.transport ?? defaultTransport(f);
    this.storeCheck = storeCheckOver(f);
    const perf = globalThis.performance;
    this.now = opts.now ?? (perf ? () => perf.now() : () => Date.now());
    this.random = opts.random ?? Math.random;
    this.connectivity = opts.connectivity ?? checkedConnectivity(deviceConnectivity(), probeOrigin(f, this.baseUrl));
    this.defaults = opts.defaults ?? {};
  }

  /** Starts uploading `file` (a File or Blob) and returns its handle at once: listen to its
   * events, `await upload.result`. An unfinished upload of the same file (a local record, or an
   * open session of the same bytes found by hash) is continued, sending only missing parts. */
  upload(file: Blob & { name?: string; lastModified?: number }, opts: UploadOptions = {}): Upload {
    return new Upload(
      {
        api: this.api,
        hasher: this.hasher,
        store: this.store,
        transport: this.transport,
        storeCheck: this.storeCheck,
        now: this.now,
        random: this.random,
        connectivity: this.connectivity,
      },
      file,
      { ...this.defaults, ...opts },
    );
  }

  /** The account's open upload sessions, newest first (`hash`: only those of this content). */
  async listUploads(opts: ListOptions & { hash?: string } = {}): Promise<Page<OpenUpload>> {
    const r = await this.api.request<{ uploads?: OpenUpload[]; nextCursor?: string | null }>("GET", `/api/jetty/uploads${query(opts)}`);
    return { items: r.uploads ?? [], nextCursor: r.nextCursor ?? null };
  }

  /** The account's stored files, newest first. */
  async listFiles(opts: ListOptions = {}): Promise<Page<StoredFile>> {
    const r = await this.api.request<{ files?: StoredFile[]; nextCursor?: string | null }>("GET", `/api/files${query(opts)}`);
    return { items: r.files ?? [], nextCursor: r.nextCursor ?? null };
  }

  /** The recorded state of a session. */
  async getState(fileId: string): Promise<UploadState | null> {
    const r = await this.api.request<{ state: UploadState | null }>("GET", `/api/jetty/get-state/me/${encodeURIComponent(fileId)}`);
    return r.state;
  }

  /** Discards an open session (its parts and quota reservation) and this browser's record. */
  async abortUpload(fileId: string): Promise<unknown> {
    const answer = await this.api.request("DELETE", `/api/jetty/uploads/${encodeURIComponent(fileId)}`);
    for (const r of await this.localRecords()) if (r.fileId === fileId) await this.store.delete(r.key).catch(() => {});
    return answer;
  }

  /** A signed, expiring download link for a stored file (served by an edge). */
  createLink(fileId: string, opts: { ttlSeconds?: number; download?: boolean } = {}): Promise<{ url: string; edgeId: string; expiresAt: number }> {
    return this.api.request("POST", `/api/files/${encodeURIComponent(fileId)}/link`, { body: opts });
  }

  /** The account's quota and usage (`GET /api/agentcache/quota`); also a cheap key check. */
  quota(): Promise<Record<string, unknown>> {
    return this.api.request("GET", "/api/agentcache/quota");
  }

  /** This browser's records of unfinished uploads to this coordinator. */
  async localRecords(): Promise<LocalRecord[]> {
    const all = await this.store.list().catch(() => [] as LocalRecord[]);
    return all.filter((r) => r.baseUrl === this.baseUrl);
  }
}

function query(opts: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
