// The coordinator's upload-session endpoints, typed: the one place for their paths, bodies and
// timeouts. The upload flow calls these, never `Api.request` directly; retries and blame stay
// with the caller (`withRetries`).

import type { Api } from "./api.js";
import type { Duplicate, FileInfo, OpenUpload, OptimalEdgesResponse, ResumeResponse } from "./types.js";

/** The deadline of the calls whose work at the store can take minutes — finalize (S3 documents
 * that completing a multipart upload may) and copying parts — as the CLI's. */
const STORE_WORK_TIMEOUT_MS = 600_000;

/** A part offered by its digest (hex SHA-256). */
export interface PartOffer {
  part: number;
  sha256: string;
}

/** The most parts one `reuse-parts` request may offer (the server's `MAX_REUSE_OFFERS`). */
export const MAX_REUSE_OFFERS = 100;

export class SessionApi {
  constructor(private readonly api: Api) {}

  /** `POST /api/jetty/optimal-edges`: a new session (or a duplicate), by this request body. */
  openSession(body: Record<string, unknown>, signal: AbortSignal): Promise<OptimalEdgesResponse> {
    return this.api.request<OptimalEdgesResponse>("POST", "/api/jetty/optimal-edges", { body, signal, timeoutMs: 60_000 });
  }

  /** `POST /api/jetty/resume`: a ticket (edges, token, recorded state) for an open session. */
  resume(fileId: string, signal: AbortSignal): Promise<ResumeResponse> {
    return this.api.request<ResumeResponse>("POST", "/api/jetty/resume", { body: { fileId }, signal, timeoutMs: 60_000 });
  }

  /** The account's open uploads, newest first (the first 50). */
  async openUploads(signal: AbortSignal): Promise<OpenUpload[]> {
    const q = new URLSearchParams({ limit: "50" });
    const page = await this.api.request<{ uploads?: OpenUpload[] }>("GET", `/api/jetty/uploads?${q}`, { signal, timeoutMs: 30_000 });
    return page.uploads ?? [];
  }

  /** `POST /api/jetty/reuse-parts`: the store copies the offered parts the account already
   * stores into the session; the parts it copied (at most `MAX_REUSE_OFFERS` offered). */
  async copyParts(fileId: string, parts: PartOffer[], signal: AbortSignal): Promise<number[]> {
    const answer = await this.api.request<{ copied?: number[] }>("POST", "/api/jetty/reuse-parts", {
      body: { fileId, parts },
      signal,
      timeoutMs: STORE_WORK_TIMEOUT_MS,
    });
    return answer.copied ?? [];
  }

  /** The same as a dry run: which of the offered parts the account stores (none copied). */
  async storedParts(fileId: string, parts: PartOffer[], signal: AbortSignal): Promise<number[]> {
    const answer = await this.api.request<{ reusable?: number[] }>("POST", "/api/jetty/reuse-parts", {
      body: { fileId, parts, dryRun: true },
      signal,
      timeoutMs: 30_000,
    });
    return answer.reusable ?? [];
  }

  /** `POST /api/jetty/identify`: names an upload opened without an identity by its content id;
   * the stored file when the account has this content already (the upload is then closed). */
  async identify(fileId: string, contentId: string, signal: AbortSignal): Promise<Duplicate | null> {
    const answer = await this.api.request<{ duplicate?: Duplicate | null }>("POST", "/api/jetty/identify", {
      body: { fileId, contentId },
      signal,
      timeoutMs: 60_000,
    });
    return answer.duplicate ?? null;
  }

  /** `POST /api/edge/finalize-upload`: completes the object and records the file. */
  finalize(fileId: string, totalChunks: number, fileHash: string, signal: AbortSignal): Promise<{ file: FileInfo }> {
    return this.api.request<{ file: FileInfo }>("POST", "/api/edge/finalize-upload", {
      body: { fileId, totalChunks, fileHash },
      signal,
      timeoutMs: STORE_WORK_TIMEOUT_MS,
    });
  }

  /** `POST /api/jetty/edge-report`: an edge failed this upload (it is ranked lower). */
  reportEdge(edgeId: string, reason: string): Promise<unknown> {
    return this.api.request("POST", "/api/jetty/edge-report", { body: { edgeId, reason: reason.slice(0, 200) }, timeoutMs: 5000 });
  }

  /** `DELETE /api/jetty/uploads/:id`: discards an open session and its parts. */
  discard(fileId: string): Promise<unknown> {
    return this.api.request("DELETE", `/api/jetty/uploads/${encodeURIComponent(fileId)}`, { timeoutMs: 10_000 });
  }
}
