// The coordinator's API over fetch: JSON in, JSON or a classified JettyError out, and the retry
// loop for the calls whose outages are waited out (`with_retries` in the CLI).

import { whenOnline, type Connectivity } from "./connectivity.js";
import { coordinatorTrouble, errorFromAnswer, JettyError, type Trouble } from "./errors.js";
import { RetryBudget, type RetryPolicy } from "./retry.js";

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly fetchImpl: typeof fetch,
  ) {}

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const { signal, done } = withTimeout(opts.signal, opts.timeoutMs);
    let resp: Response;
    let text: string;
    try {
      resp = await this.fetchImpl(this.url(path), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal,
        cache: "no-store",
      });
      text = await resp.text();
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const why = signal?.aborted ? `no answer within ${Math.round((opts.timeoutMs ?? 0) / 1000)} s` : (e as Error)?.message ?? e;
      throw new JettyError("network", `could not reach the coordinator (${method} ${path}): ${why}`);
    } finally {
      done();
    }
    if (!resp.ok) throw errorFromAnswer(resp.status, text, resp.headers.get("retry-after"));
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new JettyError("server", `unreadable answer to ${method} ${path}`, { status: resp.status });
    }
  }
}

/** `signal` that also aborts after `timeoutMs` (without AbortSignal.any/timeout, which older
 * browsers lack); `done` clears the timer. */
function withTimeout(outer: AbortSignal | undefined, timeoutMs: number | undefined): { signal: AbortSignal | undefined; done: () => void } {
  if (!timeoutMs) return { signal: outer, done: () => {} };
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(outer?.reason);
  if (outer?.aborted) ctl.abort(outer.reason);
  else outer?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => ctl.abort(new JettyError("network", "timed out")), timeoutMs);
  return {
    signal: ctl.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    },
  };
}

export interface RetryNotice {
  trouble: Trouble;
  /** The wait before the next try (0 while `offline`: the next try comes with the network). */
  delayMs: number;
}

/** Sleeps `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `call` until it succeeds, fails for good (a refusal, a local error), or has failed
 * without a break for the policy's budget; `notice` hears about each wait (`null`: recovered).
 * A failure while `connectivity` says the device is offline waits for the network instead,
 * however long that takes, and the budget is whole again once it is back. */
export async function withRetries<T>(
  policy: RetryPolicy,
  call: () => Promise<T>,
  opts: {
    notice?: (n: RetryNotice | null) => void;
    signal?: AbortSignal;
    random?: () => number;
    now?: () => number;
    connectivity?: Connectivity;
  } = {},
): Promise<T> {
  const budget = new RetryBudget(policy, opts.random);
  const now = opts.now ?? (() => Date.now());
  let waited = false;
  for (;;) {
    try {
      const value = await call();
      if (waited) opts.notice?.(null);
      return value;
    } catch (e) {
      if (!(e instanceof JettyError) || !e.isOutage) throw e;
      // No answer while the device says offline: wait for the network. (An answer, even a
      // 5xx or 429, shows there is one: waited out below like any outage.)
      if (e.kind === "network" && opts.connectivity && !opts.connectivity.online()) {
        opts.notice?.({ trouble: "offline", delayMs: 0 });
        waited = true;
        await whenOnline(opts.connectivity, opts.signal);
        budget.onSuccess();
        continue;
      }
      const t = now();
      let delay = budget.onFailure(t);
      const failing = budget.failingFor(t);
      // The answer named its wait (`Retry-After`): not sooner. Longer than the budget has left,
      // any try within it would come too early: give up now instead of sleeping.
      const asked = e.retryAfterMs;
      if (delay !== null && asked !== null && failing !== null) {
        delay = asked >= policy.budgetMs - failing ? null : Math.max(delay, asked);
      }
      if (delay === null) throw waited && failing !== null ? e.afterRetries(failing) : e;
      opts.notice?.({ trouble: coordinatorTrouble(e), delayMs: delay });
      waited = true;
      await sleep(delay, opts.signal);
    }
  }
}
