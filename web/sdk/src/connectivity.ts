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

/** How often, while the device says it is offline, an upload's client checks whether the
 * coordinator answers after all. */
export const OFFLINE_PROBE_MS = 30_000;

/** The device's word, checked. While `device` says offline and someone listens (an upload
 * waiting for the network), `probe` runs every `everyMs`; once one gets an answer the network is
 * there after all (`navigator.onLine` is wrong on some setups: VPN adapters, embedded
 * webviews), so this reads online — and tells its listeners — until the device's next change.
 * Without it, such a device would hold its uploads forever. */
export function checkedConnectivity(device: Connectivity, probe: () => Promise<boolean>, everyMs = OFFLINE_PROBE_MS): Connectivity {
  const listeners = new Set<(online: boolean) => void>();
  let overruled = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  /** A probe is waiting for its answer (no second one is scheduled meanwhile). */
  let probing = false;
  let stopDevice: (() => void) | null = null;
  /** Bumped by every device change and whenever nobody listens (then nobody hears the device,
   * so nothing learned before counts): a probe answering after that counts for nothing. */
  let epoch = 0;
  const online = () => overruled || device.online();
  const waiting = () => listeners.size > 0 && !online();
  const stopProbing = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const probeLater = () => {
    stopProbing();
    if (probing || !waiting()) return;
    const mine = epoch;
    timer = setTimeout(async () => {
      timer = null;
      if (mine !== epoch || !waiting()) return;
      probing = true;
      const answered = await probe().catch(() => false);
      probing = false;
      if (mine !== epoch || !waiting()) return probeLater();
      if (!answered) return probeLater();
      overruled = true;
      for (const fn of [...listeners]) fn(true);
    }, everyMs);
  };
  const onDevice = () => {
    epoch += 1;
    overruled = false;
    const now = online();
    for (const fn of [...listeners]) fn(now);
    probeLater();
  };
  return {
    online,
    subscribe(fn) {
      listeners.add(fn);
      if (stopDevice === null) {
        const stop = device.subscribe(onDevice);
        // Unsubscribed from inside that call (a device that calls back at once): drop it.
        if (listeners.size === 0) stop();
        else stopDevice = stop;
      }
      if (timer === null) probeLater();
      return () => {
        listeners.delete(fn);
        if (listeners.size > 0) return;
        stopProbing();
        stopDevice?.();
        stopDevice = null;
        // Nobody hears the device from now on: what a probe showed no longer holds.
        overruled = false;
        epoch += 1;
      };
    },
  };
}

/** A probe of `baseUrl`: any answer at all (an opaque `no-cors` one included) means the network
 * reaches it; no answer within 10 s, or a network error, means it does not. */
export function probeOrigin(fetchImpl: typeof fetch, baseUrl: string): () => Promise<boolean> {
  return async () => {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 10_000);
    try {
      await fetchImpl(`${baseUrl}/health`, { method: "HEAD", mode: "no-cors", cache: "no-store", signal: ctl.signal });
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(t);
    }
  };
}
