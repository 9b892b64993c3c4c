import { test } from "node:test";
import assert from "node:assert/strict";
import { ALWAYS_ONLINE, checkedConnectivity, deviceConnectivity, probeOrigin, whenOnline } from "../src/connectivity.js";
import { withRetries } from "../src/api.js";
import { errorFromAnswer, JettyError } from "../src/errors.js";
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

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a device wrongly saying offline is overruled by a probe that gets an answer, until its next change", async () => {
  const device = new ManualConnectivity();
  device.set(false);
  let probes = 0;
  let reachable = false;
  const c = checkedConnectivity(device, async () => (probes++, reachable), 10);
  assert.equal(c.online(), false);
  await tick(40);
  assert.equal(probes, 0, "nobody waits for the network: no probe");
  const seen: boolean[] = [];
  const stop = c.subscribe((on) => seen.push(on));
  await tick(45);
  assert.ok(probes >= 2, `probes while offline: ${probes}`);
  assert.equal(c.online(), false, "no answer: still offline");
  reachable = true;
  await until(() => c.online());
  assert.deepEqual(seen, [true], "listeners hear it");
  const after = probes;
  await tick(40);
  assert.equal(probes, after, "no more probes once online");
  // The device's next change counts again: offline is believed until a probe answers.
  device.set(true);
  reachable = false;
  device.set(false);
  assert.equal(c.online(), false);
  await tick(40);
  assert.ok(probes > after, "probing again");
  stop();
  const stopped = probes;
  await tick(40);
  assert.equal(probes, stopped, "no probe without listeners");
  assert.equal(device.subscribers, 0);
});

test("a probe answering after the device changed counts for nothing", async () => {
  const device = new ManualConnectivity();
  device.set(false);
  let release: (v: boolean) => void = () => {};
  const c = checkedConnectivity(device, () => new Promise<boolean>((r) => (release = r)), 5);
  const stop = c.subscribe(() => {});
  await tick(20);
  device.set(true);
  device.set(false);
  release(true); // the answer to a probe from before those changes
  await tick(1);
  assert.equal(c.online(), false);
  stop();
});

test("probeOrigin: any answer is reachable, a network error or no answer is not", async () => {
  const asked: Array<[string, RequestInit | undefined]> = [];
  const answering = (async (url: string, init?: RequestInit) => (asked.push([url, init]), new Response(null, { status: 404 }))) as typeof fetch;
  assert.equal(await probeOrigin(answering, "http://coord.test")(), true);
  assert.equal(asked[0][0], "http://coord.test/health");
  assert.equal(asked[0][1]?.mode, "no-cors");
  const failing = (async () => {
    throw new TypeError("Failed to fetch");
  }) as typeof fetch;
  assert.equal(await probeOrigin(failing, "http://coord.test")(), false);
});

async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`still waiting for ${cond}`);
    await tick(2);
  }
}

test("an overrule ends when nobody listens: the next upload believes the device again", async () => {
  const device = new ManualConnectivity();
  device.set(false);
  const c = checkedConnectivity(device, async () => true, 5);
  const stop = c.subscribe(() => {});
  await until(() => c.online());
  stop();
  assert.equal(c.online(), false, "unheard device changes could have happened since");
});

test("one probe at a time, however many listen", async () => {
  const device = new ManualConnectivity();
  device.set(false);
  let inFlight = 0;
  let most = 0;
  let probes = 0;
  const c = checkedConnectivity(
    device,
    async () => {
      probes += 1;
      most = Math.max(most, ++inFlight);
      await tick(20);
      inFlight -= 1;
      return false;
    },
    2,
  );
  const stopA = c.subscribe(() => {});
  await until(() => inFlight === 1);
  const stopB = c.subscribe(() => {}); // while a probe waits for its answer
  await until(() => probes >= 3);
  stopA();
  stopB();
  assert.equal(most, 1);
});

test("an answer while the device says offline is no reason to wait for the network: a 503 is retried", { timeout: 5000 }, async () => {
  const c = new ManualConnectivity();
  c.set(false);
  let calls = 0;
  const value = await withRetries(
    { budgetMs: 2000, baseMs: 1, capMs: 2 },
    async () => {
      calls += 1;
      if (calls < 3) throw errorFromAnswer(503, "");
      return "ok";
    },
    { connectivity: c, random: seededRandom(1) },
  );
  assert.equal(value, "ok");
  assert.equal(calls, 3);
});
