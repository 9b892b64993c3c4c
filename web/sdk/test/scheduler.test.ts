// The scheduler on a virtual clock (a port of client/src/upload/scheduler/tests.rs): a small
// simulator plays the edges (how long each attempt takes and how it ends).
import { test } from "node:test";
import assert from "node:assert/strict";
import { PartScheduler, pickEdge, type Action, type Assignment, type Outcome, type SchedulerConfig } from "../src/scheduler.js";
import { DEFAULT_RETRY, seededRandom } from "../src/retry.js";

const S = 1000;
const config = (concurrency: number, budgetMs = DEFAULT_RETRY.budgetMs): SchedulerConfig => ({
  concurrency,
  partTimeoutMs: 60 * S,
  retry: { ...DEFAULT_RETRY, budgetMs },
  random: seededRandom(7),
});

interface Run {
  sent: Array<[number, Assignment]>;
  actions: Array<[number, number, Outcome, Action]>;
  end: [Action["type"], number] | null;
}

const reports = (run: Run) =>
  run.actions.flatMap(([, , , a]) => ((a.type === "retry" || a.type === "backoff") && a.report !== null ? [a.report] : []));
const backoffs = (run: Run) => run.actions.flatMap(([, , , a]) => (a.type === "backoff" ? [a.delayMs] : []));
const perEdge = (run: Run, n: number) => {
  const c = Array(n).fill(0);
  for (const [, a] of run.sent) c[a.edge] += 1;
  return c;
};

function simulate(weights: number[], parts: number, cfg: SchedulerConfig, edge: (a: Assignment) => [number, Outcome]): Run {
  const s = new PartScheduler(weights, Array.from({ length: parts }, (_, i) => i + 1), cfg);
  const run: Run = { sent: [], actions: [], end: null };
  let pending: Array<[number, Assignment, Outcome]> = [];
  let now = 0;
  for (let k = 0; k < 100_000; k++) {
    for (let a = s.next(now); a; a = s.next(now)) {
      const [took, outcome] = edge(a);
      run.sent.push([now, a]);
      pending.push([now + took, a, outcome]);
    }
    if (s.isDone()) {
      run.end = ["done", now];
      return run;
    }
    const answer = pending.length ? Math.min(...pending.map((p) => p[0])) : null;
    const wake = s.pollTimeout();
    if (answer === null && wake === null) throw new Error("stuck");
    now = Math.min(answer ?? Infinity, wake ?? Infinity);
    for (const [a, action] of s.handleTimeout(now)) {
      pending = pending.filter((p) => p[1] !== a);
      run.actions.push([a.part, a.edge, "timedOut", action]);
      if (action.type === "giveUp") {
        run.end = ["giveUp", now];
        return run;
      }
    }
    for (let i = pending.findIndex((p) => p[0] <= now); i >= 0; i = pending.findIndex((p) => p[0] <= now)) {
      const [, a, outcome] = pending.splice(i, 1)[0];
      const action = s.onResult(a.part, a.edge, outcome, now);
      run.actions.push([a.part, a.edge, outcome, action]);
      if (action.type === "giveUp" || action.type === "done") {
        run.end = [action.type, now];
        return run;
      }
    }
  }
  throw new Error("the simulation did not end");
}

test("parts go out in order and the upload is done when the last is stored", () => {
  const run = simulate([0.5, 0.5], 6, config(2), () => [S, "sent"]);
  assert.deepEqual(run.sent.map(([, a]) => a.part), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(run.end, ["done", 3 * S]);
  assert.equal(run.actions.filter(([, , , a]) => a.type === "done").length, 1);
});

test("an upload with nothing to send is done at once", () => {
  const s = new PartScheduler([1], [], config(4));
  assert.ok(s.isDone());
  assert.equal(s.next(0), null);
  assert.equal(s.pollTimeout(), null);
  assert.ok(new PartScheduler([], [], config(4)).isDone());
});

test("faster edges take more parts", () => {
  const run = simulate([0.5, 0.5], 50, config(4), (a) => [a.edge === 0 ? S : 4 * S, "sent"]);
  assert.deepEqual(perEdge(run, 2), [40, 10], "four times as fast, four times the parts");
  assert.equal(run.end?.[0], "done");
});

test("a failed edge gets no more parts and is reported once", () => {
  const run = simulate([1, 1, 1], 30, config(3), (a) => [S, a.edge === 1 ? "edgeFailed" : "sent"]);
  assert.equal(run.end?.[0], "done");
  assert.equal(run.sent.filter(([, a]) => a.edge === 1).length, 1);
  assert.deepEqual(reports(run), [1]);
  assert.equal(pickEdge(3, 1, [true, true, true]), 1, "all failed: the slot's own edge");
  assert.equal(pickEdge(3, 1, [false, true, false]), 2);
  assert.equal(pickEdge(3, 4, [false, true, false]), 2);
});

test("a failed part moves to the next healthy edge at once", () => {
  const s = new PartScheduler([0.5, 0.5], [1, 2], config(1));
  const first = s.next(0) as Assignment;
  assert.deepEqual([first.part, first.edge, first.attempt], [1, 0, 0]);
  assert.deepEqual(s.onResult(1, 0, "edgeFailed", S), { type: "retry", report: 0 });
  const again = s.next(S) as Assignment;
  assert.deepEqual([again.part, again.edge, again.attempt], [1, 1, 1]);
  assert.ok(s.edgeFailed(0) && !s.edgeFailed(1));
});

test("a part past its deadline is sent through another edge; its late answer is ignored", () => {
  const s = new PartScheduler([0.5, 0.5], [1, 2], config(2));
  const a = s.next(0) as Assignment;
  const b = s.next(0) as Assignment;
  assert.deepEqual([a.edge, b.edge], [0, 1]);
  assert.equal(a.deadline, 60 * S);
  assert.equal(s.pollTimeout(), a.deadline);
  assert.deepEqual(s.onResult(2, 1, "sent", 2 * S), { type: "continue" });
  assert.deepEqual(s.handleTimeout(a.deadline - 1), []);
  assert.deepEqual(s.handleTimeout(a.deadline), [[a, { type: "retry", report: 0 }]]);
  const again = s.next(a.deadline) as Assignment;
  assert.deepEqual([again.part, again.edge, again.attempt], [1, 1, 1]);
  assert.deepEqual(s.onResult(1, 0, "sent", a.deadline), { type: "continue" }, "stale");
  assert.ok(!s.isDone());
  assert.deepEqual(s.onResult(1, 1, "sent", a.deadline + S), { type: "done" });
});

test("a part whose bytes keep moving outlives its deadline; a window after they stop it times out", () => {
  const s = new PartScheduler([0.5, 0.5], [1], { ...config(1), progressWindowMs: 20 * S });
  const a = s.next(0) as Assignment;
  assert.equal(a.deadline, 60 * S);
  s.onProgress(1, 10 * S);
  assert.equal(s.pollTimeout(), 60 * S, "progress early in the deadline changes nothing");
  s.onProgress(1, 55 * S);
  assert.deepEqual(s.handleTimeout(60 * S), [], "slow, not stalled");
  s.onProgress(1, 70 * S);
  s.onProgress(1, 61 * S);
  s.onProgress(2, 200 * S);
  assert.equal(s.pollTimeout(), 90 * S, "an old mark never pulls it back; another part's is not its");
  assert.deepEqual(s.handleTimeout(90 * S - 1), []);
  const expired = s.handleTimeout(90 * S);
  assert.deepEqual(expired, [[a, { type: "retry", report: 0 }]]);
  assert.equal(expired[0][0].deadline, 90 * S, "the deadline the progress made");
});

test("a refused part fails the upload without blaming the edge", () => {
  for (const outcome of ["refused", "failed"] as Outcome[]) {
    const run = simulate([0.5, 0.5], 4, config(2), (a) => [S, a.part === 1 ? outcome : "sent"]);
    assert.deepEqual(run.end, ["giveUp", S], outcome);
    assert.deepEqual(reports(run), []);
  }
});

test("when every edge fails, the part waits within the budget, then gives up", () => {
  for (const outcome of ["edgeFailed", "timedOut"] as Outcome[]) {
    const cfg = { ...config(1, 30 * S), partTimeoutMs: 10 * S };
    const run = simulate([0.5, 0.5], 1, cfg, () => (outcome === "timedOut" ? [1000 * S, "sent"] : [S, outcome]));
    const [end, at] = run.end as [string, number];
    assert.equal(end, "giveUp");
    const takes = outcome === "timedOut" ? 10 * S : S;
    assert.equal(run.sent[1][0], takes, "the other edge at once");
    assert.equal(run.sent[1][1].edge, 1);
    assert.ok(at >= 2 * takes + 30 * S && at <= 2 * takes + 40 * S, `gave up at ${at}`);
    assert.equal(backoffs(run).length, run.sent.length - 2, "every retry after the first waited");
    assert.deepEqual(reports(run), [0, 1], "each edge reported once");
  }
});

test("a store failure blames no edge and waits a backoff", () => {
  const s = new PartScheduler([0.5, 0.5], [1], config(1));
  s.next(0);
  const action = s.onResult(1, 0, "storeFailed", S);
  assert.equal(action.type, "backoff");
  assert.ok((action as { delayMs: number }).delayMs <= 500);
  assert.equal((action as { report: number | null }).report, null);
  assert.ok(!s.edgeFailed(0));
  assert.equal(s.next(S - 1), null);
  const again = s.next(S + 500) as Assignment;
  assert.deepEqual([again.part, again.edge, again.attempt], [1, 1, 1], "the slot's next edge");
});

test("a store outage shorter than the budget is waited out; a longer one fails the upload", () => {
  let first: number | null = null;
  const run = simulate([0.5, 0.5], 8, config(4), (a) => {
    first ??= a.deadline;
    return [S, a.deadline - first < 100 * S ? "storeFailed" : "sent"];
  });
  const [end, at] = run.end as [string, number];
  assert.equal(end, "done");
  assert.ok(at >= 100 * S && at < 120 * S, `done at ${at}`);
  assert.deepEqual(reports(run), []);
  assert.ok(backoffs(run).every((d) => d <= 15 * S));
  const long = simulate([0.5, 0.5], 4, config(2, 30 * S), () => [S, "storeFailed"]);
  assert.equal(long.end?.[0], "giveUp");
  assert.ok((long.end?.[1] as number) >= 31 * S && (long.end?.[1] as number) <= 32 * S);
});

test("the budget resets after a stored part", () => {
  const tries = new Map<number, number>();
  const run = simulate([1], 20, config(1, 10 * S), (a) => {
    const n = (tries.get(a.part) ?? 0) + 1;
    tries.set(a.part, n);
    return [2 * S, n <= 3 ? "storeFailed" : "sent"];
  });
  assert.equal(run.end?.[0], "done");
  assert.ok((run.end?.[1] as number) > 100 * S);
  assert.equal(backoffs(run).length, 60);
});

test("resend: the same slot sends the part again at once, blaming nobody, outside the budget", () => {
  const s = new PartScheduler([0.5, 0.5], [1, 2], config(1, 0));
  const a = s.next(0) as Assignment;
  assert.deepEqual(s.onResult(a.part, a.edge, "resend", S), { type: "retry", report: null });
  const again = s.next(S) as Assignment;
  assert.deepEqual([again.part, again.edge, again.attempt], [1, 0, 1]);
  assert.ok(!s.edgeFailed(0));
});

test("pause: parts in flight and waiting go back to the front of the queue in order", () => {
  const s = new PartScheduler([0.5, 0.5], [1, 2, 3, 4, 5], config(3));
  const sent = [s.next(0), s.next(0), s.next(0)].map((a) => (a as Assignment).part);
  assert.deepEqual(sent, [1, 2, 3]);
  s.onResult(2, 1, "storeFailed", S); // part 2 waits a backoff
  const cancelled = s.requeueAll().map((a) => a.part);
  assert.deepEqual(cancelled, [1, 3]);
  assert.equal(s.inFlight().length, 0);
  assert.equal(s.pollTimeout(), null);
  const after = [s.next(2 * S), s.next(2 * S), s.next(2 * S)].map((a) => (a as Assignment).part);
  assert.deepEqual(after, [1, 2, 3]);
  // A late answer to a cancelled attempt changes nothing... unless it is the same assignment
  // again; the driver drops those itself.
  for (const p of [1, 2, 3]) s.onResult(p, s.inFlight().find((a) => a.part === p)!.edge, "sent", 3 * S);
  s.add([6]);
  const rest: number[] = [];
  for (let a = s.next(4 * S); a; a = s.next(4 * S)) rest.push(a.part);
  assert.deepEqual(rest, [4, 5, 6]);
});

test("a start budget lets only that many queued parts start; retries still go, and lifting it frees the rest", () => {
  const s = new PartScheduler([0.5, 0.5], [1, 2, 3, 4, 5, 6], config(4));
  s.limitStarts(2);
  const first: number[] = [];
  for (let a = s.next(0); a; a = s.next(0)) first.push(a.part);
  assert.deepEqual(first, [1, 2], "two of four free slots start");
  // Part 1's edge fails: its retry is no new start, so it goes although the budget is spent.
  const edge = s.inFlight().find((a) => a.part === 1)!.edge;
  assert.equal(s.onResult(1, edge, "edgeFailed", S).type, "retry");
  assert.equal(s.next(S)?.part, 1);
  assert.equal(s.next(S), null, "nothing new starts");
  s.limitStarts(null);
  const rest: number[] = [];
  for (let a = s.next(2 * S); a; a = s.next(2 * S)) rest.push(a.part);
  assert.deepEqual(rest, [3, 4], "the free slots fill once lifted");
});

test("a pause under a spent start budget lets the parts that had started go again on resume", () => {
  const s = new PartScheduler([1], [1, 2, 3, 4, 5], config(4));
  s.limitStarts(2);
  assert.deepEqual([s.next(0), s.next(0), s.next(0)].map((a) => a?.part ?? null), [1, 2, null]);
  assert.deepEqual(s.requeueAll().map((a) => a.part), [1, 2]);
  assert.deepEqual([s.next(S), s.next(S), s.next(S)].map((a) => a?.part ?? null), [1, 2, null], "the same two, no new one");
});

test("forgive: after the device was offline every edge is healthy, each slot back on its own edge, the budget whole", () => {
  const s = new PartScheduler([0.5, 0.3, 0.2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], config(4, 10 * S));
  const home = s.slotEdges();
  const first = [s.next(0), s.next(0), s.next(0), s.next(0)] as Assignment[];
  // The connections die as the network goes: every part fails on its edge before the
  // offline event arrives.
  for (const a of first) s.onResult(a.part, a.edge, "edgeFailed", 5);
  assert.ok([0, 1, 2].every((e) => s.edgeFailed(e)), "all edges blamed");
  assert.notEqual(s.failingFor(5), null);
  assert.notDeepEqual(s.slotEdges(), home, "slots moved off the blamed edges");
  s.requeueAll();
  s.forgive();
  assert.ok([0, 1, 2].every((e) => !s.edgeFailed(e)));
  assert.deepEqual(s.slotEdges(), home);
  assert.equal(s.failingFor(60 * S), null, "no failure counts against the budget");
  const again = [s.next(60 * S), s.next(60 * S), s.next(60 * S), s.next(60 * S)] as Assignment[];
  assert.deepEqual(
    again.map((a) => a.part),
    [1, 2, 3, 4],
    "the parts that failed go first",
  );
  assert.deepEqual(
    again.map((a) => a.edge).sort(),
    [...home].sort(),
    "over the edges by weight again",
  );
});
