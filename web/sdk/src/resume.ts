// Resuming: the local record of an unfinished upload (what was started for which file), and
// merging what the coordinator recorded into the parts still to send. The record only says
// which session a file belongs to; what is still to send is always asked of the coordinator.

import { partLen, type PartPlan } from "./plan.js";
import type { OpenUpload, UploadState } from "./types.js";

/** What is kept (IndexedDB) about an unfinished upload, so a reload or another tab finds it. */
export interface LocalRecord {
  /** `recordKey(baseUrl, file)`. */
  key: string;
  baseUrl: string;
  fileId: string;
  /** Hex SHA-256 of the whole file, when it was known as the session opened. */
  fileHash?: string;
  /** The content id over the parts of `partSize` (`<hex>-<parts>`). */
  contentId?: string;
  fileName: string;
  fileSize: number;
  lastModified: number;
  partSize: number;
  /** ms since the epoch. */
  createdAt: number;
}

export interface FileIdentity {
  name: string;
  size: number;
  lastModified: number;
}

export function recordKey(baseUrl: string, file: FileIdentity): string {
  return JSON.stringify([baseUrl, file.name, file.size, file.lastModified]);
}

/** Hex SHA-256, from `sha256:<hex>` or `<hex>`; `null` when it is neither. */
export function normalizeHash(hash: string | null | undefined): string | null {
  if (typeof hash !== "string") return null;
  const hex = hash.trim().toLowerCase().replace(/^sha256:/, "");
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** The parts still to send, from the coordinator's state: `chunksRemaining` when given (its own
 * word), else every part of the plan not in `chunksUploaded`; numbers outside the plan are
 * ignored, duplicates dropped, in order. */
export function missingParts(plan: PartPlan, state: Pick<UploadState, "chunksRemaining" | "chunksUploaded"> | null): number[] {
  const valid = (n: unknown): n is number => typeof n === "number" && partLen(plan, n) !== null;
  let parts: number[];
  if (state && Array.isArray(state.chunksRemaining)) {
    parts = state.chunksRemaining.filter(valid);
  } else {
    const have = new Set((state?.chunksUploaded ?? []).filter(valid));
    parts = [];
    for (let n = 1; n <= plan.partCount; n++) if (!have.has(n)) parts.push(n);
  }
  return [...new Set(parts)].sort((a, b) => a - b);
}

/** Bytes of the file the coordinator already holds (parts recorded), by the plan. */
export function bytesRecorded(plan: PartPlan, remaining: readonly number[]): number {
  const missing = remaining.reduce((sum, n) => sum + (partLen(plan, n) ?? 0), 0);
  return plan.fileSize - missing;
}

/** The open session to continue for this file among the account's open uploads: the same
 * content id (or, for a session without one, the same SHA-256) and size, not expired; the same
 * name first, then the newest. */
export function pickSession(
  uploads: readonly OpenUpload[],
  file: { size: number; hash?: string | null; contentId?: string | null; name?: string },
  now: number,
): OpenUpload | null {
  const want = normalizeHash(file.hash);
  const same = (u: OpenUpload) =>
    file.contentId && u.contentId ? u.contentId === file.contentId : want !== null && normalizeHash(u.fileHash) === want;
  const fits = uploads.filter((u) => same(u) && u.fileSize === file.size && !(u.expiresAt <= now));
  fits.sort((a, b) => Number(b.fileName === file.name) - Number(a.fileName === file.name) || b.createdAt - a.createdAt);
  return fits[0] ?? null;
}

/** Where local records live: IndexedDB in a browser, a Map elsewhere (or your own). */
export interface RecordStore {
  get(key: string): Promise<LocalRecord | undefined>;
  put(record: LocalRecord): Promise<void>;
  delete(key: string): Promise<void>;
  list(): Promise<LocalRecord[]>;
}

export class MemoryRecordStore implements RecordStore {
  private readonly map = new Map<string, LocalRecord>();
  async get(key: string) {
    const r = this.map.get(key);
    return r ? { ...r } : undefined;
  }
  async put(record: LocalRecord) {
    this.map.set(record.key, { ...record });
  }
  async delete(key: string) {
    this.map.delete(key);
  }
  async list() {
    return [...this.map.values()].map((r) => ({ ...r }));
  }
}

/** Records in IndexedDB (database `jettyspeed`, object store `uploads`). */
export class IndexedDbRecordStore implements RecordStore {
  private db: Promise<IDBDatabase> | null = null;

  constructor(
    private readonly dbName = "jettyspeed",
    private readonly storeName = "uploads",
  ) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(this.dbName, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(this.storeName)) {
          req.result.createObjectStore(this.storeName, { keyPath: "key" });
        }
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(this.storeName, mode);
      const req = op(tx.objectStore(this.storeName));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  get(key: string) {
    return this.run("readonly", (s) => s.get(key) as IDBRequest<LocalRecord | undefined>);
  }
  async put(record: LocalRecord) {
    await this.run("readwrite", (s) => s.put(record));
  }
  async delete(key: string) {
    await this.run("readwrite", (s) => s.delete(key));
  }
  list() {
    return this.run("readonly", (s) => s.getAll() as IDBRequest<LocalRecord[]>);
  }
}

/** IndexedDB when the environment has it, else memory. */
export function defaultRecordStore(): RecordStore {
  return typeof indexedDB !== "undefined" ? new IndexedDbRecordStore() : new MemoryRecordStore();
}
