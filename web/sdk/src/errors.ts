// Errors, classified the way the CLI does (client/src/lib.rs `ClientError`, driver.rs `blame`).

import type { Outcome } from "./scheduler.js";

export type ErrorKind =
  /** No answer: refused, reset, blocked (CORS), or no answer before the deadline. */
  | "network"
  /** A 5xx, a 429 or 408, or a success the client could not read. */
  | "server"
  /** A 4xx (but 429 and 408): sending it again will not help. */
  | "refused"
  /** The bytes are not what was declared (the file changed, or is not the session's file). */
  | "integrity"
  /** Stopped by the caller (`abort()`). */
  | "aborted"
  /** Reading the file failed. */
  | "local";

export class JettyError extends Error {
  readonly kind: ErrorKind;
  readonly status: number | null;
  /** The server's stable error code (`store_unavailable`, `parts_missing`, …), if any. */
  readonly code: string | null;
  readonly details: unknown;
  /** How long the answer asked to be left alone (`Retry-After`, ms), if it did. */
  readonly retryAfterMs: number | null;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { status?: number | null; code?: string | null; details?: unknown; retryAfterMs?: number | null } = {},
  ) {
    super(message);
    this.name = "JettyError";
    this.kind = kind;
    this.retryAfterMs = opts.retryAfterMs ?? null;
    this.status = opts.status ?? null;
    this.code = opts.code ?? null;
    this.details = opts.details;
  }

  /** Worth waiting out: the server could not be reached, answered 5xx, or said "not now"
   * (`isTransientStatus`). */
  get isOutage(): boolean {
    const status = this.status ?? 0;
    return this.kind === "network" || (this.kind === "server" && (status >= 500 || isTransientStatus(status)));
  }

  /** The object store failed behind a healthy server (`503 store_unavailable`, `502
   * storage_error`): not the answering server's fault. */
  get isStoreFailure(): boolean {
    return this.kind === "server" && (this.code === "store_unavailable" || this.code === "storage_error");
  }

  /** This error as the last of failures that went on for `failingMs` (`after_retries`). */
  afterRetries(failingMs: number): JettyError {
    return new JettyError(this.kind, `${this.message} (still failing after ${Math.round(failingMs / 1000)} s of retries)`, {
      status: this.status,
      code: this.code,
      details: this.details,
      retryAfterMs: this.retryAfterMs,
    });
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, status: this.status, code: this.code, message: this.message, details: this.details };
  }
}

/** 4xx statuses that say "not now" rather than "no" (`is_transient_status` in the CLI): `408
 * Request Timeout` and `429 Too Many Requests`, answered by proxies and rate limits in front of
 * the coordinator or an edge. They read as server failures: waited out, a part moved on. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429;
}

/** The wait a `Retry-After` header value asks for, in ms (its delta-seconds form; the HTTP-date
 * form is ignored), at most ten minutes. */
export function retryAfterMs(value: string | null | undefined): number | null {
  if (!value || !/^\s*\d+\s*$/.test(value)) return null;
  return Math.min(Number(value), 600) * 1000;
}

/** The error an answer with `status` and body `text` stands for (`error_from`): the JSON error
 * envelope when there is one; 4xx are refusals (but `isTransientStatus`), 5xx server failures.
 * `retryAfter`: the answer's `Retry-After` header, if any. */
export function errorFromAnswer(status: number, text: string, retryAfter?: string | null): JettyError {
  let env: { error?: { code?: unknown; message?: unknown; details?: unknown } } | null = null;
  try {
    env = JSON.parse(text);
  } catch {
    env = null;
  }
  const e = env && typeof env === "object" ? env.error : undefined;
  const parsed = e && typeof e.code === "string" ? { code: e.code, message: String(e.message ?? e.code), details: e.details } : null;
  const kind: ErrorKind = status < 500 && !isTransientStatus(status) ? "refused" : "server";
  const wait = kind === "server" ? retryAfterMs(retryAfter) : null;
  if (parsed) return new JettyError(kind, parsed.message, { status, code: parsed.code, details: parsed.details, retryAfterMs: wait });
  return new JettyError(kind, text.slice(0, 200) || `HTTP ${status}`, {
    status,
    code: kind === "refused" ? "http_error" : null,
    retryAfterMs: wait,
  });
}

/** Whom a part's failed send blames (`blame` in driver.rs). */
export function blame(err: JettyError): Outcome {
  if (err.isStoreFailure) return "storeFailed";
  switch (err.kind) {
    case "network":
    case "server":
      return "edgeFailed";
    case "refused":
      return "refused";
    default:
      return "failed";
  }
}

/** What a failed coordinator request says is failing (`coordinator_trouble`). */
export type Trouble =
  | "store unavailable"
  | "edges failing"
  | "coordinator unreachable"
  | "coordinator failing"
  /** The coordinator, or a rate limit or proxy in front of it, said "not now" (429, 408). */
  | "coordinator busy"
  | "no edges available"
  | "finalize in progress elsewhere"
  /** The device has no network (`navigator.onLine`): waiting for it, not retrying. */
  | "offline";

export function coordinatorTrouble(err: JettyError): Trouble {
  if (err.kind === "network") return "coordinator unreachable";
  if (err.kind === "server" && isTransientStatus(err.status ?? 0)) return "coordinator busy";
  switch (err.code) {
    case "store_unavailable":
    case "storage_error":
      return "store unavailable";
    case "no_edges_available":
      return "no edges available";
    case "finalize_in_progress":
      return "finalize in progress elsewhere";
    default:
      return "coordinator failing";
  }
}

export function abortedError(): JettyError {
  return new JettyError("aborted", "the upload was aborted");
}
