// A fake coordinator and edges in memory, for driving Upload end to end in Node: a fetch for the
// coordinator's API and a part transport for the edges, with hooks to make them fail.
import { createHash } from "node:crypto";
import type { PartAnswer, PartRequest, PartTransport } from "../src/transport.js";
import { JettyError } from "../src/errors.js";

export const BASE = "http://coord.test";

export type EdgeBehaviour = (ctx: { edge: string; part: number; attempt: number; fleet: FakeFleet }) =>
  | "ok"
  | "network"
  | "hang"
  /** Stored, its body taken slowly: upload progress every `trickleMs`, `trickleSteps` times. */
  | "trickle"
  /** Progress once after `trickleMs`, then never an answer (an edge that stalls mid-body). */
  | "stallMidBody"
  | { status: number; code?: string; body?: string };

interface Session {
  fileId: string;
  sessionId: string;
  fileName: string;
  fileSize: number;
  /** Hex; `null` until declared (opened by content id alone: at finalize). */
  fileHash: string | null;
  contentId: string | null;
  partSize: number;
  partCount: number;
  parts: Map<number, string>;
  status: "active" | "completed" | "aborted";
  createdAt: number;
  token: string;
  bytes?: Uint8Array;
}

const err = (status: number, code: string, details?: unknown) =>
  new Response(JSON.stringify({ error: { code, message: code, details } }), { status, headers: { "content-type": "application/json" } });
const ok = (v: unknown) => new Response(JSON.stringify(v), { status: 200, headers: { "content-type": "application/json" } });
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (h: unknown) => (typeof h === "string" ? h.toLowerCase().replace(/^sha256:/, "") : null);
/** The server's content id: SHA-256 over the raw part digests, `<hex>-<parts>`. */
export const contentIdOf = (digests: string[]) =>
  `${createHash("sha256").update(Buffer.concat(digests.map((d) => Buffer.from(d, "hex")))).digest("hex")}-${digests.length}`;

export class FakeFleet {
  edges = [
    { id: "sfo-1", url: "http://sfo.test", weight: 0.5 },
    { id: "lax-1", url: "http://lax.test", weight: 0.3 },
    { id: "origin-direct", url: BASE, weight: 0.2 },
  ];
  sessions = new Map<string, Session>();
  files = new Map<string, { id: string; sha256: string; size: number; name: string; contentId: string }>();
  /** Every optimal-edges body, as sent. */
  asked: Array<Record<string, unknown>> = [];
  /** Parts copied by reuse-parts. */
  reused: number[] = [];
  /** Every store check: the edge asked. */
  checks: string[] = [];
  /** Every finalize body, as sent. */
  finalized: Array<Record<string, unknown>> = [];
  /** Every identify body, as sent. */
  identified: Array<Record<string, unknown>> = [];
  /** What happened, in order: `open <fileId>`, `part <n>` (stored), `identify`, `finalize`. */
  events: string[] = [];
  /** Part size the coordinator plans with (`null`: honour the client's chunkSize hint). */
  partSize: number | null = 1024;
  /** How long each part takes to store (ms): a link slower than hashing. */
  partDelayMs = 0;
  /** A "trickle" part's pace: progress every `trickleMs`, `trickleSteps` times, then stored. */
  trickleMs = 40;
  trickleSteps = 6;
  /** How long identify's answer takes after its decision (ms): parts still on their way meet a
   * closed upload first. */
  identifyDelayMs = 0;
  /** identify's duplicate answers carry no `sha256` (a server that does not send it). */
  duplicateWithoutHash = false;
  /** How each part attempt ends (default: stored). */
  behaviour: EdgeBehaviour = () => "ok";
  /** Every part request: [edge, part]. */
  sent: Array<[string, number]> = [];
  stored: Array<[string, number]> = [];
  reports: string[] = [];
  deleted: string[] = [];
  calls: string[] = [];
  finalizeHook: ((s: Session) => Response | null) | null = null;
  private attempts = new Map<number, number>();
  private n = 0;

  fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    this.calls.push(`${method} ${url.pathname}`);
    if (method === "GET" && url.pathname === "/api/edge/store-check") {
      // An edge's store check: the part behaviour of the edge decides (a store failure stays one).
      const edge = this.edges.find((e) => new URL(e.url).host === url.host)?.id ?? url.host;
      this.checks.push(edge);
      const what = this.behaviour({ edge, part: 0, attempt: this.checks.length, fleet: this });
      if (what === "network") throw new TypeError("fetch failed");
      if (what !== "ok" && what !== "hang" && what.status >= 500) return err(what.status, what.code ?? "internal_error");
      return ok({ store: "up" });
    }
    if (init?.headers && (init.headers as Record<string, string>).authorization !== "Bearer key") return err(401, "invalid_api_key");
    const body = init?.body ? JSON.parse(String(init.body)) : null;
    const p = url.pathname;
    if (method === "POST" && p === "/api/jetty/optimal-edges") {
      this.asked.push(body);
      // Dedup by verified content id; a declared hash finds only one-part files (as the server).
      const want = body.contentId ?? (body.fileHash ? contentIdOf([hex(body.fileHash) as string]) : null);
      const dup = [...this.files.values()].find((f) => f.contentId === want && f.size === body.fileSize);
      if (dup) return ok({ edges: [], duplicate: { fileId: dup.id, url: `${BASE}/api/files/${dup.id}`, sha256: `sha256:${dup.sha256}` } });
      const partSize = this.partSize ?? body.chunkSize;
      // As the server: a content id over other parts than the plan's is sent back with the plan.
      if (body.contentId && !body.fileHash && body.chunkSize !== partSize) {
        return err(409, "part_size_changed", { partSize, partCount: Math.ceil(body.fileSize / partSize) });
      }
      const s: Session = {
        fileId: `fil_${++this.n}`,
        sessionId: `ses_${this.n}`,
        fileName: body.fileName,
        fileSize: body.fileSize,
        fileHash: hex(body.fileHash),
        contentId: body.chunkSize === partSize ? (body.contentId ?? null) : null,
        partSize,
        partCount: Math.ceil(body.fileSize / partSize),
        parts: new Map(),
        status: "active",
        createdAt: Date.now() + this.n,
        token: `tok_${this.n}`,
      };
      this.sessions.set(s.fileId, s);
      this.events.push(`open ${s.fileId}`);
      return ok({ edges: this.edges, duplicate: null, upload: this.ticket(s) });
    }
    if (method === "POST" && p === "/api/jetty/identify") {
      // As the server: an id over the session's own parts; stored content makes the upload's
      // own file id a clone and aborts the upload; a recorded id is never replaced.
      this.identified.push(body);
      this.events.push("identify");
      const s = this.sessions.get(body.fileId);
      if (!s) return err(404, "not_found");
      if (Number(String(body.contentId).split("-")[1]) !== s.partCount) return err(400, "invalid_request");
      const cloned = this.files.get(s.fileId);
      const answer = (f: { sha256: string }) =>
        ok({ duplicate: { fileId: s.fileId, url: `${BASE}/api/files/${s.fileId}`, sha256: this.duplicateWithoutHash ? undefined : `sha256:${f.sha256}` } });
      if (s.status === "aborted" && cloned) return answer(cloned);
      if (s.status !== "active") return err(409, "session_not_active");
      if (s.contentId && s.contentId !== body.contentId) return err(409, "content_id_mismatch");
      const dup = [...this.files.values()].find((f) => f.contentId === body.contentId && f.size === s.fileSize);
      if (dup) {
        s.status = "aborted";
        this.files.set(s.fileId, { ...dup, id: s.fileId, name: s.fileName });
        if (this.identifyDelayMs > 0) await new Promise((r) => setTimeout(r, this.identifyDelayMs));
        return answer(dup);
      }
      const moving = [...this.sessions.values()].find((o) => o !== s && o.status === "active" && o.contentId === body.contentId && o.fileSize === s.fileSize);
      if (moving) return err(409, "upload_in_progress", { fileId: moving.fileId, retryAfterSeconds: 1 });
      s.contentId = body.contentId;
      return ok({ duplicate: null });
    }
    if (method === "POST" && p === "/api/jetty/resume") {
      const s = this.sessions.get(body.fileId);
      if (!s) return err(404, "not_found");
      if (s.status !== "active") return err(409, "session_not_active");
      return ok({ upload: this.ticket(s), edges: this.edges, state: this.state(s) });
    }
    if (method === "GET" && p === "/api/jetty/uploads") {
      const hash = url.searchParams.get("hash");
      const cid = url.searchParams.get("contentId");
      const uploads = [...this.sessions.values()]
        .filter((s) => s.status === "active" && (!hash || s.fileHash === hash) && (!cid || s.contentId === cid))
        .map((s) => ({
          fileId: s.fileId,
          sessionId: s.sessionId,
          fileName: s.fileName,
          fileSize: s.fileSize,
          fileHash: s.fileHash,
          contentId: s.contentId,
          partSize: s.partSize,
          partCount: s.partCount,
          partsDone: s.parts.size,
          bytesReceived: 0,
          createdAt: s.createdAt,
          expiresAt: Date.now() + 86_400_000,
        }));
      return ok({ uploads, nextCursor: null });
    }
    if (method === "POST" && p === "/api/edge/finalize-upload") {
      const s = this.sessions.get(body.fileId);
      if (!s) return err(404, "not_found");
      this.finalized.push(body);
      this.events.push("finalize");
      const hooked = this.finalizeHook?.(s);
      if (hooked) return hooked;
      const declared = hex(body.fileHash);
      if (s.fileHash && declared && declared !== s.fileHash) return err(409, "file_hash_mismatch");
      if (!s.fileHash && !declared) return err(400, "file_hash_required");
      s.fileHash ??= declared;
      const missing = [];
      for (let n = 1; n <= s.partCount; n++) if (!s.parts.has(n)) missing.push(n);
      if (missing.length) return err(409, "parts_missing", { missing });
      s.status = "completed";
      const digests = [...s.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, h]) => h);
      const file = { id: s.fileId, sha256: s.fileHash as string, size: s.fileSize, name: s.fileName, contentId: contentIdOf(digests) };
      this.files.set(s.fileId, file);
      return ok({ file: { id: s.fileId, url: `${BASE}/api/files/${s.fileId}`, size: s.fileSize, sha256: `sha256:${s.fileHash}` } });
    }
    if (method === "POST" && p === "/api/jetty/reuse-parts") {
      // As the server: parts of completed uploads with the same digest and size are copied.
      const s = this.sessions.get(body.fileId);
      if (!s) return err(404, "not_found");
      if (s.status !== "active") return err(409, "session_not_active");
      const copied: number[] = [];
      const reusable: number[] = [];
      if (body.dryRun) this.events.push("probe");
      for (const { part, sha256 } of body.parts as Array<{ part: number; sha256: string }>) {
        const len = Math.min(s.partSize, s.fileSize - (part - 1) * s.partSize);
        const stored = [...this.sessions.values()].some(
          (o) => o.status === "completed" && [...o.parts.entries()].some(([n, h]) => h === sha256 && Math.min(o.partSize, o.fileSize - (n - 1) * o.partSize) === len),
        );
        if (stored && body.dryRun) {
          reusable.push(part);
        } else if (stored && !s.parts.has(part)) {
          s.parts.set(part, sha256);
          copied.push(part);
        }
      }
      this.reused.push(...copied);
      return ok(body.dryRun ? { copied, bytesCopied: 0, reusable } : { copied, bytesCopied: 0 });
    }
    if (method === "POST" && p === "/api/jetty/edge-report") {
      this.reports.push(body.edgeId);
      return ok({ ok: true });
    }
    if (method === "DELETE" && p.startsWith("/api/jetty/uploads/")) {
      const id = decodeURIComponent(p.split("/").pop() as string);
      this.deleted.push(id);
      const s = this.sessions.get(id);
      if (s) s.status = "aborted";
      return ok({ aborted: true });
    }
    return err(404, "not_found");
  };

  transport: PartTransport = async (req: PartRequest): Promise<PartAnswer> => {
    const url = new URL(req.url);
    const edge = this.edges.find((e) => new URL(e.url).host === url.host)?.id ?? url.host;
    const part = Number(url.searchParams.get("part"));
    const attempt = (this.attempts.get(part) ?? 0) + 1;
    this.attempts.set(part, attempt);
    this.sent.push([edge, part]);
    const what = this.behaviour({ edge, part, attempt, fleet: this });
    if (what === "network") throw new JettyError("network", `${edge} refused the connection`);
    if (what === "hang") {
      return new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true }));
    }
    if (what === "stallMidBody") {
      await new Promise((r) => setTimeout(r, this.trickleMs));
      if (req.signal.aborted) throw req.signal.reason;
      req.onProgress?.(Math.floor(req.body.size / 2));
      return new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(req.signal.reason), { once: true }));
    }
    if (what === "trickle") {
      for (let step = 1; step <= this.trickleSteps; step++) {
        await new Promise((r) => setTimeout(r, this.trickleMs));
        if (req.signal.aborted) throw req.signal.reason;
        req.onProgress?.(Math.floor((req.body.size * step) / (this.trickleSteps + 1)));
      }
    } else if (what !== "ok") {
      return { status: what.status, text: what.body ?? JSON.stringify({ error: { code: what.code, message: what.code } }) };
    }
    const s = [...this.sessions.values()].find((x) => req.token === x.token);
    if (!s) return { status: 401, text: JSON.stringify({ error: { code: "invalid_upload_token", message: "bad" } }) };
    if (s.status !== "active") return { status: 409, text: JSON.stringify({ error: { code: "session_not_active", message: "gone" } }) };
    if (this.partDelayMs > 0) await new Promise((r) => setTimeout(r, this.partDelayMs));
    const bytes = new Uint8Array(await req.body.arrayBuffer());
    // A request cancelled before its body was through is not stored.
    if (req.signal.aborted) throw req.signal.reason;
    const want = Math.min(s.partSize, s.fileSize - (part - 1) * s.partSize);
    if (bytes.length !== want) return { status: 400, text: JSON.stringify({ error: { code: "chunk_size_mismatch", message: "len" } }) };
    const h = sha(bytes);
    if (h !== req.sha256) return { status: 422, text: JSON.stringify({ error: { code: "chunk_hash_mismatch", message: "hash" } }) };
    req.onProgress?.(bytes.length);
    s.parts.set(part, h);
    this.stored.push([edge, part]);
    this.events.push(`part ${part}`);
    return { status: 200, text: JSON.stringify({ partNumber: part, size: bytes.length, sha256: h, etag: `"${h}"`, edgeId: edge }) };
  };

  private ticket(s: Session) {
    return { fileId: s.fileId, sessionId: s.sessionId, partSize: s.partSize, partCount: s.partCount, uploadToken: s.token, expiresAt: 9e9 };
  }

  private state(s: Session) {
    const uploaded = [...s.parts.keys()].sort((a, b) => a - b);
    const remaining = [];
    for (let n = 1; n <= s.partCount; n++) if (!s.parts.has(n)) remaining.push(n);
    return {
      fileId: s.fileId,
      sessionId: s.sessionId,
      status: s.status,
      chunksUploaded: uploaded,
      chunksRemaining: remaining,
      edges: this.edges.map((e) => e.id),
      progress: 0,
      total: s.fileSize,
      partSize: s.partSize,
      partCount: s.partCount,
      fileHash: s.fileHash ? `sha256:${s.fileHash}` : null,
      contentId: s.contentId,
      bytesReceived: 0,
      expiresAt: 9e9,
    };
  }
}
