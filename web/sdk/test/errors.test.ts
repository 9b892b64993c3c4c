import { test } from "node:test";
import assert from "node:assert/strict";
import { blame, coordinatorTrouble, errorFromAnswer, JettyError } from "../src/errors.js";

const env = (code: string, details?: unknown) => JSON.stringify({ error: { code, message: `${code}!`, details } });

test("a part's answer blames whoever failed (the README's table)", () => {
  const table: Array<[number, string, string]> = [
    // the edge: its own 5xx, a 5xx without a JSON error
    [500, env("internal_error"), "edgeFailed"],
    [502, "<html>bad gateway</html>", "edgeFailed"],
    [503, "", "edgeFailed"],
    // the store, behind a healthy edge
    [503, env("store_unavailable"), "storeFailed"],
    [502, env("storage_error"), "storeFailed"],
    // "not now" from a rate limit or a proxy in front of the edge: move on, wait it out
    [429, env("rate_limited"), "edgeFailed"],
    [429, "Too Many Requests", "edgeFailed"],
    [408, "", "edgeFailed"],
    // the request
    [409, env("session_not_active"), "refused"],
    [400, env("chunk_size_mismatch"), "refused"],
    [422, env("chunk_hash_mismatch"), "refused"],
    [401, env("invalid_upload_token"), "refused"],
    [404, "not found", "refused"],
  ];
  for (const [status, body, want] of table) {
    assert.equal(blame(errorFromAnswer(status, body)), want, `${status} ${body}`);
  }
  assert.equal(blame(new JettyError("network", "reset")), "edgeFailed");
  assert.equal(blame(new JettyError("integrity", "changed")), "failed");
  assert.equal(blame(new JettyError("local", "unreadable")), "failed");
});

test("the error envelope is read: code, message, details", () => {
  const e = errorFromAnswer(409, env("parts_missing", { missing: [2, 3] }));
  assert.equal(e.kind, "refused");
  assert.equal(e.code, "parts_missing");
  assert.equal(e.message, "parts_missing!");
  assert.deepEqual(e.details, { missing: [2, 3] });
  const raw = errorFromAnswer(418, "teapot");
  assert.equal(raw.code, "http_error");
  assert.equal(raw.message, "teapot");
  const s = errorFromAnswer(504, "");
  assert.equal(s.kind, "server");
  assert.equal(s.code, null);
  assert.ok(s.isOutage);
});

test("outages are network failures, 5xx, 429 and 408; store failures only 5xx with a store code", () => {
  assert.ok(new JettyError("network", "x").isOutage);
  assert.ok(errorFromAnswer(503, env("no_edges_available")).isOutage);
  assert.ok(errorFromAnswer(429, env("slow_down")).isOutage);
  assert.ok(!errorFromAnswer(403, env("forbidden")).isOutage);
  assert.ok(!new JettyError("server", "unreadable", { status: 200 }).isOutage);
  assert.ok(errorFromAnswer(503, env("store_unavailable")).isStoreFailure);
  assert.ok(!errorFromAnswer(400, env("store_unavailable")).isStoreFailure);
});

test("a failed coordinator call says what is failing", () => {
  assert.equal(coordinatorTrouble(new JettyError("network", "x")), "coordinator unreachable");
  assert.equal(coordinatorTrouble(errorFromAnswer(503, env("store_unavailable"))), "store unavailable");
  assert.equal(coordinatorTrouble(errorFromAnswer(502, env("storage_error"))), "store unavailable");
  assert.equal(coordinatorTrouble(errorFromAnswer(503, env("no_edges_available"))), "no edges available");
  assert.equal(coordinatorTrouble(errorFromAnswer(503, env("finalize_in_progress"))), "finalize in progress elsewhere");
  assert.equal(coordinatorTrouble(errorFromAnswer(500, env("internal_error"))), "coordinator failing");
  assert.equal(coordinatorTrouble(errorFromAnswer(429, env("rate_limited"))), "coordinator busy");
  assert.equal(coordinatorTrouble(errorFromAnswer(408, "")), "coordinator busy");
});

test("429 and 408 are outages to wait out, with their code kept; other 4xx are final", () => {
  for (const [status, body] of [
    [429, env("rate_limited")],
    [429, "Too Many Requests"],
    [408, ""],
  ] as Array<[number, string]>) {
    const e = errorFromAnswer(status, body);
    assert.equal(e.kind, "server", `${status} ${body}`);
    assert.ok(e.isOutage && !e.isStoreFailure, `${status} ${body}`);
  }
  assert.equal(errorFromAnswer(429, env("rate_limited")).code, "rate_limited");
  for (const status of [400, 401, 403, 404, 409, 413, 422]) {
    const e = errorFromAnswer(status, env("x"));
    assert.ok(e.kind === "refused" && !e.isOutage, String(status));
  }
});
