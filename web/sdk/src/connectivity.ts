// Whether the device has a network at all: `navigator.onLine` and its `online`/`offline`
// events. "Offline" is the one thing a browser knows for sure about an outage — no request can
// get through until it ends — so an upload waits for the network to come back instead of
// spending its retry budget on the wait or blaming the edges for it. "Online" says only that
// some network is up; whether the coordinator and the edges answer is still learned by asking.

export interface Connectivity {
  /** False only while the device says it has no network. */
  online(): boolean;
  /** Calls `fn` each time the device goes online or offline; returns what stops it. */
  subscribe(fn: (online: boolean) => void): () => void;
}

/** A device that never says it is offline (Node, or a runtime without `navigator.onLine`). */
export const ALWAYS_ONLINE: Connectivity = { online: () => true, subscribe: () => () => {} };

interface OnlineGlobal {
  navigator?: { onLine?: unknown };
  addEventListener?: (type: string, fn: () => void) => void;
  removeEventListener?: (type: string, fn: () => void) => void;
}

/** The device's connectivity as the browser (window or worker) reports it. */
export function deviceConnectivity(g: OnlineGlobal = globalThis as OnlineGlobal): Connectivity {
  const add = g.addEventListener;
  const remove = g.removeEventListener;
  if (typeof g.navigator?.onLine !== "boolean" || typeof add !== "function" || typeof remove !== "function") return ALWAYS_ONLINE;
  return {
    online: () => g.navigator?.onLine !== false,
    subscribe(fn) {
      const on = () => fn(true);
      const off = () => fn(false);
      add.call(g, "online", on);
      add.call(g, "offline", off);
      return () => {
        remove.call(g, "online", on);
        remove.call(g, "offline", off);
      };
    },
  };
}

/** Resolves once `c` is online (at once if it is), or rejects with the signal's reason. */
export function whenOnline(c: Connectivity, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (c.online()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let stop: (() => void) | null = null;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      stop?.();
      signal?.removeEventListener("abort", onAbort);
      if (ok) resolve();
      else reject(signal?.reason);
    };
    const onAbort = () => settle(false);
    signal?.addEventListener("abort", onAbort, { once: true });
    // A source may call back from inside `subscribe`; `stop` is dropped once it returns then.
    const unsubscribe = c.subscribe((online) => online && settle(true));
    if (settled) unsubscribe();
    else stop = unsubscribe;
    // It may have come back between the check and the subscription.
    if (c.online()) settle(true);
  });
}
