import { test } from "node:test";
import assert from "node:assert/strict";
import { assignWeighted } from "../src/weights.js";

test("slots follow the weights, interleaved so every edge starts busy", () => {
  const a = assignWeighted([0.5, 0.3, 0.2], 10);
  const count = (i: number) => a.filter((x) => x === i).length;
  assert.deepEqual([count(0), count(1), count(2)], [5, 3, 2]);
  assert.deepEqual(a.slice(0, 3), [0, 1, 2]);
});

test("no usable weight gives equal shares; no edges give no slots", () => {
  assert.deepEqual(assignWeighted([0, 0], 4), [0, 1, 0, 1]);
  assert.deepEqual(assignWeighted([NaN, -1], 4), [0, 1, 0, 1]);
  assert.deepEqual(assignWeighted([], 4), []);
});

test("the same shares as the Rust scheduler's table (slots_follow_the_edge_weights)", () => {
  const table: Array<[number[], number, number[]]> = [
    [[0.5, 0.25, 0.25], 4, [2, 1, 1]],
    // 4.5 slots each: rounding breaks the tie.
    [[0.45, 0.45, 0.1], 10, [4, 5, 1]],
    [[1.0], 3, [3]],
    [[0, 0], 4, [2, 2]],
  ];
  for (const [weights, count, want] of table) {
    const slots = assignWeighted(weights, count);
    assert.deepEqual(weights.map((_, i) => slots.filter((x) => x === i).length), want, `${weights} over ${count}`);
  }
});
