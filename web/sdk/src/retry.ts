// Waiting out an outage, sans-IO (client/src/upload/retry.rs): a budget of *continuous* failure
// (any success makes it whole again) and exponential backoff with full jitter. Time is passed
// in; nothing sleeps here.

export interface RetryPolicy {
  /** How long failures may go on without a single success before giving up (ms). Zero gives up
   * at the first failure that has nothing else to try. */
  budgetMs: number;
  /** The ceiling of the first wait (ms); each failure in a row doubles it. */
  baseMs: number;
  /** The largest ceiling a wait can have (ms). */
  capMs: number;
}

/** Two minutes of failure, waits from up to 500 ms growing to up to 15 s (the CLI's
 * `--retry-for 120`). */
export const DEFAULT_RETRY: RetryPolicy = { budgetMs: 120_000, baseMs: 500, capMs: 15_000 };

/** The longest wait after `failures` failures in a row: `base * 2^failures`, at most `cap`. */
export function ceiling(policy: RetryPolicy, failures: number): number {
  return Math.min(policy.baseMs * 2 ** Math.min(failures, 31), policy.capMs);
}

/** A small seeded generator (mulberry32) for reproducible jitter in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class RetryBudget {
  private failingSince: number | null = null;
  private failures = 0;

  constructor(
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly random: () => number = Math.random,
  ) {}

  /** A failure at `now`: how long to wait before trying again (uniform between zero and the
   * ceiling, never past the end of the budget), or `null` once failures have gone on for the
   * whole budget. */
  onFailure(now: number): number | null {
    if (this.failingSince === null) this.failingSince = now;
    const left = this.policy.budgetMs - Math.max(0, now - this.failingSince);
    if (!(left > 0)) return null;
    const top = ceiling(this.policy, this.failures);
    this.failures += 1;
    return Math.min(this.random() * top, left);
  }

  /** A success: the budget is whole again and the waits start small. */
  onSuccess(): void {
    this.failingSince = null;
    this.failures = 0;
  }

  /** How long failures have gone on at `now` without a success (`null` while all is well). */
  failingFor(now: number): number | null {
    return this.failingSince === null ? null : Math.max(0, now - this.failingSince);
  }
}
