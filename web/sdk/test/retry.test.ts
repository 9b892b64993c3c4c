import { test } from "node:test";
import assert from "node:assert/strict";
import { ceiling, DEFAULT_RETRY, RetryBudget, seededRandom } from "../src/retry.js";
import { withRetries } from "../src/api.js";
import { errorFromAnswer, JettyError, retryAfterMs } from "../src/errors.js";

test("backoff grows with full jitter up to the cap", () => {
  const ceilings = [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000];
  ceilings.forEach((want, n) => assert.equal(ceiling(DEFAULT_RETRY, n), want, `failure ${n}`));
  assert.equal(ceiling(DEFAULT_RETRY, 1e9), DEFAULT_RETRY.capMs);
  const waits: number[][] = ceilings.map(() => []);
  for (let seed = 0; seed < 500; seed++) {
    const b = new RetryBudget(DEFAULT_RETRY, seededRandom(seed));
    for (const w of waits) w.push(b.onFailure(0) as number);
  }
  waits.forEach((w, n) => {
    const top = ceilings[n];
    const hi = Math.max(...w);
    const lo = Math.min(...w);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    assert.ok(hi <= top && hi >= top * 0.95, `failure ${n}: top ${hi}`);
    assert.ok(lo <= top * 0.05, `failure ${n}: bottom ${lo}`);
    assert.ok(Math.abs(mean - top / 2) < top / 10, `failure ${n}: mean ${mean}`);
  });
});

test("the budget is continuous failure and a wait never runs past it", () => {
  const b = new RetryBudget({ budgetMs: 10_000, baseMs: 1000, capMs: 4000 }, seededRandom(3));
  assert.equal(b.failingFor(0), null);
  assert.notEqual(b.onFailure(0), null);
  assert.equal(b.failingFor(3000), 3000);
  assert.ok((b.onFailure(9000) as number) <= 1000, "only 1 s left");
  assert.ok((b.onFailure(9900) as number) <= 100);
  assert.equal(b.onFailure(10_000), null, "spent");
  assert.equal(b.onFailure(11_000), null, "and stays spent");
});

test("a success makes the budget whole again and the waits small", () => {
  const b = new RetryBudget({ budgetMs: 10_000, baseMs: 1000, capMs: 8000 }, seededRandom(11));
  for (let k = 0; k < 4; k++) b.onFailure(k * 2000);
  b.onSuccess();
  assert.equal(b.failingFor(9000), null);
  assert.ok((b.onFailure(9000) as number) <= 1000);
  assert.notEqual(b.onFailure(18_000), null, "9 s of failure, not 18");
  assert.equal(b.onFailure(19_000), null);
});

test("a zero budget gives up at the first failure", () => {
  assert.equal(new RetryBudget({ ...DEFAULT_RETRY, budgetMs: 0 }).onFailure(0), null);
});

test("withRetries waits out outages, not refusals, and says so", async () => {
  const policy = { budgetMs: 5000, baseMs: 1, capMs: 2 };
  const notices: unknown[] = [];
  let n = 0;
  const v = await withRetries(
    policy,
    async () => {
      n += 1;
      if (n === 1) throw new JettyError("network", "down");
      if (n === 2) throw new JettyError("server", "store", { status: 503, code: "store_unavailable" });
      if (n === 3) throw new JettyError("server", "wait", { status: 503, code: "finalize_in_progress" });
      return 42;
    },
    { notice: (x) => notices.push(x ? x.trouble : null) },
  );
  assert.equal(v, 42);
  assert.deepEqual(notices, ["coordinator unreachable", "store unavailable", "finalize in progress elsewhere", null]);
  let calls = 0;
  await assert.rejects(
    withRetries(policy, async () => {
      calls += 1;
      throw new JettyError("refused", "no", { status: 409, code: "session_not_active" });
    }),
    (e: JettyError) => e.code === "session_not_active",
  );
  assert.equal(calls, 1, "a refusal is final at once");
  // A spent budget ends with the last error, saying how long it went on.
  let t = 0;
  await assert.rejects(
    withRetries({ budgetMs: 100, baseMs: 1, capMs: 1 }, async () => {
      t += 60;
      throw new JettyError("server", "boom", { status: 500, code: "internal_error" });
    }, { now: () => t }),
    (e: JettyError) => /still failing after/.test(e.message) && e.status === 500,
  );
});

test("a Retry-After is waited at least; one past the budget ends the retries at once", async () => {
  const policy = { budgetMs: 5000, baseMs: 1, capMs: 2 };
  let calls = 0;
  const started = Date.now();
  const value = await withRetries(
    policy,
    async () => {
      calls += 1;
      if (calls === 1) throw errorFromAnswer(429, "Too Many Requests", "1");
      return "ok";
    },
    { random: seededRandom(1) },
  );
  assert.equal(value, "ok");
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  // Ten minutes asked with 5 s of budget: no try could come late enough; given up at once.
  const t0 = Date.now();
  let tries = 0;
  await assert.rejects(
    withRetries({ budgetMs: 5000, baseMs: 1, capMs: 2 }, async () => {
      tries += 1;
      throw errorFromAnswer(429, "", "600");
    }),
    (e: JettyError) => e.retryAfterMs === 600_000,
  );
  assert.equal(tries, 1);
  assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
});

test("Retry-After: delta-seconds read, capped at ten minutes; a date or garbage ignored; refusals carry none", () => {
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs(" 7 "), 7000);
  assert.equal(retryAfterMs("100000"), 600_000);
  assert.equal(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT"), null);
  assert.equal(retryAfterMs("-1"), null);
  assert.equal(retryAfterMs(null), null);
  assert.equal(errorFromAnswer(503, "", "2").retryAfterMs, 2000);
  assert.equal(errorFromAnswer(404, "", "2").retryAfterMs, null);
});
