// A device whose network the test switches on and off (what `navigator.onLine` and the
// `online`/`offline` events say in a browser).
import type { Connectivity } from "../src/connectivity.js";

export class ManualConnectivity implements Connectivity {
  private up = true;
  private readonly listeners = new Set<(online: boolean) => void>();

  online(): boolean {
    return this.up;
  }

  subscribe(fn: (online: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  set(online: boolean): void {
    if (online === this.up) return;
    this.up = online;
    for (const fn of [...this.listeners]) fn(online);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
