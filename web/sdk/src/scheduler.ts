// The part scheduler, sans-IO: a port of the CLI's (client/src/upload/scheduler/mod.rs). Which
// part goes through which edge, and when; it never touches the network, a file or a clock.
// The driver passes the time in, sends what `next` assigns, reports each answer to `onResult`,
// wakes at `pollTimeout` and calls `handleTimeout`, and does what the returned action says.
//
// `concurrency` slots, spread over the edges by smooth weighted round-robin, all pull parts
// from one queue, so a faster path finishes its parts sooner and takes more. Failures are
// blamed on whoever failed:
// - an edge's own failure (network trouble, its own 5xx, a 429 or 408, an unreadable answer, no answer before
//   the deadline) marks the edge failed: it gets no more parts while a healthy one is left, its
//   first failure is to be reported, and the part moves at once to the slot's next healthy
//   edge; with no healthy edge left the part waits a backoff from the retry budget;
// - a store failure behind a healthy edge blames nobody: backoff, then the slot's next edge;
// - a refusal (4xx but 408/429) or a local error fails the upload at once.
// Browser additions: `resend` (the driver re-sends a part at once with no blame, e.g. after a
// body that did not match its hash was re-read), `requeueAll` (pause, or the device offline)
// and `forgive` (back online).

import { RetryBudget, type RetryPolicy } from "./retry.js";
import { assignWeighted } from "./weights.js";

/** How long a part past its deadline may go without its bytes moving, by default (the CLI's
 * `PROGRESS_WINDOW`): a part still moving is slow, not stalled, and is never sent again for it. */
export const PROGRESS_WINDOW_MS = 60_000;

export interface SchedulerConfig {
  /** Parts in flight at once, across all edges. */
  concurrency: number;
  /** How long one attempt may take (ms) — unless its bytes keep moving: a part whose body made
   * progress gets at least `progressWindowMs` more from then (`onProgress`), so a slow link (many
   * parts sharing a thin uplink) is never taken for a stalled edge. */
  partTimeoutMs: number;
  /** How long a part past its deadline may go without its bytes moving (ms; default
   * `PROGRESS_WINDOW_MS`). */
  progressWindowMs?: number;
  retry: RetryPolicy;
  /** Jitter source (defaults to Math.random). */
  random?: () => number;
}

export interface Assignment {
  part: number;
  /** Index into the edges given to the scheduler. */
  edge: number;
  /** 0 for the first attempt. */
  attempt: number;
  deadline: number;
}

export type Outcome = "sent" | "edgeFailed" | "timedOut" | "storeFailed" | "refused" | "failed" | "resend";

export type Action =
  | { type: "continue" }
  | { type: "retry"; report: number | null }
  | { type: "backoff"; report: number | null; delayMs: number }
  | { type: "giveUp" }
  | { type: "done" };

type Task =
  | { kind: "idle" }
  | { kind: "sending"; a: Assignment }
  | { kind: "waiting"; part: number; attempt: number; until: number };

interface Slot {
  edgeIndex: number;
  task: Task;
}

export class PartScheduler {
  private readonly failed: boolean[];
  private readonly budget: RetryBudget;
  private readonly slots: Slot[];
  /** Each slot's edge by weight, as first assigned (`forgive` goes back to it). */
  private readonly home: number[];
  private queue: number[];
  private remaining: number;
  private givenUp = false;
  /** Queued parts that may still start (`null`: no limit); see `limitStarts`. */
  private startBudget: number | null = null;

  constructor(
    weights: readonly number[],
    parts: Iterable<number>,
    private readonly config: SchedulerConfig,
  ) {
    this.queue = [...parts];
    this.remaining = this.queue.length;
    this.failed = weights.map(() => false);
    this.budget = new RetryBudget(config.retry, config.random);
    this.home = assignWeighted(weights, Math.max(1, config.concurrency));
    this.slots = this.home.map((edgeIndex) => ({ edgeIndex, task: { kind: "idle" } as Task }));
  }

  get edgeCount(): number {
    return this.failed.length;
  }

  /** The next part to send at `now`, if a slot is free for one. */
  next(now: number): Assignment | null {
    if (this.givenUp) return null;
    let i = -1;
    for (let k = 0; k < this.slots.length; k++) {
      const t = this.slots[k].task;
      if ((t.kind === "waiting" && t.until <= now) || (t.kind === "idle" && this.mayStart())) {
        i = k;
        break;
      }
    }
    if (i < 0) return null;
    const slot = this.slots[i];
    let part: number;
    let attempt: number;
    if (slot.task.kind === "waiting") {
      part = slot.task.part;
      attempt = slot.task.attempt;
    } else {
      part = this.queue.shift() as number;
      attempt = 0;
      if (this.startBudget !== null) this.startBudget -= 1;
    }
    const a: Assignment = {
      part,
      edge: pickEdge(this.failed.length, slot.edgeIndex, this.failed),
      attempt,
      deadline: now + this.config.partTimeoutMs,
    };
    slot.task = { kind: "sending", a };
    return a;
  }

  /** Starts at most `budget` more queued parts from now on (`null`: no such limit). Retries
   * of parts already started do not count. */
  limitStarts(budget: number | null): void {
    this.startBudget = budget === null ? null : Math.max(0, budget);
  }

  private mayStart(): boolean {
    return this.queue.length > 0 && (this.startBudget === null || this.startBudget > 0);
  }

  /** Takes the answer to an assignment. An answer to an assignment no longer in flight (its
   * deadline passed, or it was requeued) changes nothing. */
  onResult(part: number, edge: number, outcome: Outcome, now: number): Action {
    const i = this.slots.findIndex((s) => s.task.kind === "sending" && s.task.a.part === part && s.task.a.edge === edge);
    if (i < 0 || this.givenUp) return { type: "continue" };
    const slot = this.slots[i];
    const attempt = (slot.task as { a: Assignment }).a.attempt + 1;
    switch (outcome) {
      case "sent":
        this.budget.onSuccess();
        slot.task = { kind: "idle" };
        this.remaining -= 1;
        return this.remaining === 0 ? { type: "done" } : { type: "continue" };
      case "resend":
        slot.task = { kind: "waiting", part, attempt, until: now };
        return { type: "retry", report: null };
      case "edgeFailed":
      case "timedOut": {
        const report = this.failed[edge] ? null : edge;
        this.failed[edge] = true;
        slot.edgeIndex += 1;
        const nextEdge = pickEdge(this.failed.length, slot.edgeIndex, this.failed);
        if (!this.failed[nextEdge]) {
          slot.task = { kind: "waiting", part, attempt, until: now };
          return { type: "retry", report };
        }
        const delayMs = this.backoff(i, part, attempt, now);
        return delayMs === null ? this.giveUp(i) : { type: "backoff", report, delayMs };
      }
      case "storeFailed": {
        slot.edgeIndex += 1;
        const delayMs = this.backoff(i, part, attempt, now);
        return delayMs === null ? this.giveUp(i) : { type: "backoff", report: null, delayMs };
      }
      default:
        return this.giveUp(i);
    }
  }

  private backoff(i: number, part: number, attempt: number, now: number): number | null {
    const delay = this.budget.onFailure(now);
    if (delay === null) return null;
    this.slots[i].task = { kind: "waiting", part, attempt, until: now + delay };
    return delay;
  }

  private giveUp(i: number): Action {
    this.givenUp = true;
    this.slots[i].task = { kind: "idle" };
    return { type: "giveUp" };
  }

  /** When the driver must wake next: the earliest deadline of a part in flight or end of a
   * backoff; `null` when nothing waits on time. */
  pollTimeout(): number | null {
    if (this.givenUp) return null;
    let min: number | null = null;
    for (const s of this.slots) {
      const t = s.task.kind === "sending" ? s.task.a.deadline : s.task.kind === "waiting" ? s.task.until : null;
      if (t !== null && (min === null || t < min)) min = t;
    }
    return min;
  }

  /** Bytes of `part` (in flight) moved at `at`: its deadline is at least `at` plus the progress
   * window. Nothing for a part not in flight. */
  onProgress(part: number, at: number): void {
    const window = this.config.progressWindowMs ?? PROGRESS_WINDOW_MS;
    for (const s of this.slots) {
      if (s.task.kind === "sending" && s.task.a.part === part) s.task.a.deadline = Math.max(s.task.a.deadline, at + window);
    }
  }

  /** Every part in flight past its deadline at `now` counts as `timedOut`: the driver cancels
   * each returned assignment and does what its action says. */
  handleTimeout(now: number): Array<[Assignment, Action]> {
    const overdue = this.slots.flatMap((s) => (s.task.kind === "sending" && s.task.a.deadline <= now ? [s.task.a] : []));
    const out: Array<[Assignment, Action]> = [];
    for (const a of overdue) {
      if (this.givenUp) break;
      out.push([a, this.onResult(a.part, a.edge, "timedOut", now)]);
    }
    return out;
  }

  /** Pause: every part in flight or waiting goes back to the front of the queue (in part
   * order), blaming nobody; returns the assignments that were in flight, to cancel. */
  requeueAll(): Assignment[] {
    const back: number[] = [];
    const cancelled: Assignment[] = [];
    for (const s of this.slots) {
      if (s.task.kind === "sending") {
        back.push(s.task.a.part);
        cancelled.push(s.task.a);
      } else if (s.task.kind === "waiting") {
        back.push(s.task.part);
      }
      s.task = { kind: "idle" };
    }
    back.sort((a, b) => a - b);
    this.queue = [...back, ...this.queue];
    // They had started: going again is no new start.
    if (this.startBudget !== null) this.startBudget += back.length;
    return cancelled;
  }

  /** The network changed under the upload (the device was offline): what failed before says
   * nothing of what fails now, so every edge is healthy again, each slot goes back to the edge
   * its weight gave it, and the retry budget is whole. Call it with nothing in flight (after
   * `requeueAll`). */
  forgive(): void {
    this.failed.fill(false);
    this.slots.forEach((s, i) => (s.edgeIndex = this.home[i]));
    this.budget.onSuccess();
  }

  /** Takes the parts waiting in the queue (none in flight or waiting out a backoff) out of
   * it, in order. They still count as remaining — the upload is not done without them —
   * until `release` says which were stored some other way and which to send after all. */
  hold(): number[] {
    const held = this.queue;
    this.queue = [];
    return held;
  }

  /** Held parts: `done` were stored some other way (copied in the store), `send` go back to
   * the front of the queue, in order. */
  release(done: Iterable<number>, send: Iterable<number>): void {
    this.remaining -= [...done].length;
    this.queue = [...[...send].sort((a, b) => a - b), ...this.queue];
  }

  /** Adds parts to send (e.g. parts the coordinator says are missing at finalize). */
  add(parts: Iterable<number>): void {
    for (const p of parts) {
      this.queue.push(p);
      this.remaining += 1;
    }
  }

  isDone(): boolean {
    return this.remaining === 0;
  }

  get givenUpAlready(): boolean {
    return this.givenUp;
  }

  inFlight(): Assignment[] {
    return this.slots.flatMap((s) => (s.task.kind === "sending" ? [s.task.a] : []));
  }

  /** How long failures have gone on at `now` without a part stored. */
  failingFor(now: number): number | null {
    return this.budget.failingFor(now);
  }

  edgeFailed(edge: number): boolean {
    return this.failed[edge] ?? false;
  }

  /** The edge each slot is bound to now (for tests and display). */
  slotEdges(): number[] {
    return this.slots.map((s) => pickEdge(this.failed.length, s.edgeIndex, this.failed));
  }
}

/** The edge at `index` (round the list), or the next one that has not failed during this
 * upload; when every edge failed, the one at `index` (retries may still get through). */
export function pickEdge(count: number, index: number, failed: readonly boolean[]): number {
  for (let k = 0; k < count; k++) {
    const e = (index + k) % count;
    if (!failed[e]) return e;
  }
  return index % count;
}
