import { test } from "node:test";
import assert from "node:assert/strict";
import { ALWAYS_ONLINE, deviceConnectivity, whenOnline } from "../src/connectivity.js";
import { withRetries } from "../src/api.js";
import { JettyError } from "../src/errors.js";
import { seededRandom } from "../src/retry.js";
import { ManualConnectivity } from "./manual-connectivity.js";

/** A browser global: `navigator.onLine` and the window's online/offline events. */
function browserGlobal(onLine: boolean) {
  const g = new EventTarget() as EventTarget & { navigator: { onLine: boolean } };
  g.navigator = { onLine };
  const flip = (to: boolean) => {
    g.navigator.onLine = to;
    g.dispatchEvent(new Event(to ? "online" : "offline"));
  };
  return { g, flip };
}

test("the device's connectivity follows navigator.onLine and its events until unsubscribed", () => {
  const { g, flip } = browserGlobal(true);
  const c = deviceConnectivity(g);
  const seen: boolean[] = [];
  const stop = c.subscribe((on) => seen.push(on));
  assert.equal(c.online(), true);
  flip(false);
  assert.equal(c.online(), false);
  flip(true);
  stop();
  flip(false);
  assert.deepEqual(seen, [false, true], "nothing after unsubscribing");
  assert.equal(c.online(), false);
});

test("a runtime without navigator.onLine is always online", () => {
  assert.equal(deviceConnectivity({}), ALWAYS_ONLINE);
  assert.equal(deviceConnectivity({ navigator: {} }), ALWAYS_ONLINE);
  assert.equal(ALWAYS_ONLINE.online(), true);
});

test("whenOnline resolves at once when online, on the online event when not, and rejects on abort", async () => {
  const c = new ManualConnectivity();
  await whenOnline(c);
  c.set(false);
  let resolved = false;
  const waiting = whenOnline(c).then(() => (resolved = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(resolved, false);
  c.set(true);
  await waiting;
  assert.equal(c.subscribers, 0, "the subscription is dropped once online");
  c.set(false);
  const ctl = new AbortController();
  const aborted = whenOnline(c, ctl.signal);
  ctl.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  assert.equal(c.subscribers, 0, "and once aborted");
});

test("a coordinator call failing while the device is offline waits for the network past the retry budget", async () => {
  const c = new ManualConnectivity();
  c.set(false);
  let calls = 0;
  const notices: Array<string | null> = [];
  const policy = { budgetMs: 50, baseMs: 1, capMs: 5 };
  setTimeout(() => c.set(true), 200);
  const value = await withRetries(
    policy,
    async () => {
      calls += 1;
      if (!c.online() || calls < 3) throw new JettyError("network", "could not reach the coordinator");
      return "ok";
    },
    { connectivity: c, random: seededRandom(1), notice: (n) => notices.push(n ? n.trouble : null) },
  );
  assert.equal(value, "ok");
  assert.equal(calls, 3, "one try offline, then two once the network is back");
  assert.deepEqual(notices, ["offline", "coordinator unreachable", null]);
});

test("without connectivity the same outage ends with the budget", async () => {
  let calls = 0;
  await assert.rejects(
    withRetries(
      { budgetMs: 50, baseMs: 1, capMs: 5 },
      async () => {
        calls += 1;
        throw new JettyError("network", "could not reach the coordinator");
      },
      { random: seededRandom(1) },
    ),
    /still failing after/,
  );
  assert.ok(calls > 1);
});

test("whenOnline copes with a source that calls back from inside subscribe", async () => {
  let up = false;
  let subscribed = 0;
  const eager = {
    online: () => up,
    subscribe(fn: (online: boolean) => void) {
      subscribed += 1;
      up = true;
      fn(true);
      return () => (subscribed -= 1);
    },
  };
  await whenOnline(eager);
  assert.equal(subscribed, 0, "unsubscribed once it returned");
});
