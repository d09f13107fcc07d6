/**
 * The sequencer's queue of requests (apps/log/core/grant-queue.ts) against the plain array it
 * replaced: random pushes, grants, answered queries, expiries and removals must leave, and return,
 * the same requests in the same (arrival) order, and the soonest deadline must be the minimum.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { GrantQueue, type Queued, isQuery } from "../../../apps/log/core/grant-queue.ts";

type Op =
  | { readonly kind: "push"; readonly query: boolean; readonly wait: number; readonly ticket: number }
  | { readonly kind: "grant" }
  | { readonly kind: "answer"; readonly below: number }
  | { readonly kind: "expire"; readonly by: number }
  | { readonly kind: "takeEven" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("push" as const), query: fc.boolean(), wait: fc.integer({ min: 0, max: 5 }), ticket: fc.integer({ min: 0, max: 4 }) }), weight: 6 },
  { arbitrary: fc.constant({ kind: "grant" as const }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant("answer" as const), below: fc.integer({ min: 0, max: 5 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("expire" as const), by: fc.integer({ min: 0, max: 3 }) }), weight: 1 },
  { arbitrary: fc.constant({ kind: "takeEven" as const }), weight: 1 },
);

const ids = (qs: readonly Queued[]) => qs.map((q) => q.id);

describe("the sequencer's grant queue", () => {
  it("keeps arrival order and the soonest deadline, as a plain array would", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3_000, size: "max" }), (ops) => {
        const queue = new GrantQueue();
        let model: Queued[] = [];
        let now = 0;
        let id = 0;
        for (const o of ops) {
          switch (o.kind) {
            case "push": {
              now += o.wait;
              const q: Queued = { id: id++, req: { asks: o.query ? [] : [{ key: { client: "c", seq: id }, streams: [] }] }, deadline: now + 10, ticket: o.ticket };
              queue.push(q);
              model.push(q);
              break;
            }
            case "grant": {
              const first = model.find((q) => !isQuery(q));
              assert.equal(queue.firstAsk()?.id, first?.id);
              if (first) {
                queue.shiftAsk();
                model = model.filter((q) => q !== first);
              }
              break;
            }
            case "answer": {
              const covered = (q: Queued) => q.ticket < o.below;
              assert.deepEqual(ids(queue.takeQueries(covered)), ids(model.filter((q) => isQuery(q) && covered(q))));
              model = model.filter((q) => !(isQuery(q) && covered(q)));
              break;
            }
            case "expire": {
              now += o.by;
              assert.deepEqual(ids(queue.expire(now)), ids(model.filter((q) => q.deadline <= now)));
              model = model.filter((q) => q.deadline > now);
              break;
            }
            case "takeEven": {
              const even = (q: Queued) => q.id % 2 === 0;
              assert.deepEqual(ids(queue.take(even)), ids(model.filter(even)));
              model = model.filter((q) => !even(q));
              break;
            }
          }
          assert.equal(queue.size, model.length);
          assert.equal(queue.hasQueries, model.some(isQuery));
          assert.equal(queue.nextDeadline(), model.length > 0 ? Math.min(...model.map((q) => q.deadline)) : undefined);
        }
        assert.deepEqual(ids(queue.take()), ids(model));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps its order across the compaction of granted asks", () => {
    const queue = new GrantQueue();
    const ask = (id: number): Queued => ({ id, req: { asks: [{ key: { client: "c", seq: id }, streams: [] }] }, deadline: id, ticket: 0 });
    for (let id = 0; id < 5_000; id++) queue.push(ask(id));
    for (let id = 0; id < 3_000; id++) {
      assert.equal(queue.firstAsk()?.id, id);
      queue.shiftAsk();
    }
    assert.equal(queue.nextDeadline(), 3_000);
    assert.deepEqual(ids(queue.take()), Array.from({ length: 2_000 }, (_, i) => 3_000 + i));
  });

  it("refuses a deadline earlier than one already queued", () => {
    const queue = new GrantQueue();
    queue.push({ id: 1, req: { asks: [] }, deadline: 10, ticket: 0 });
    assert.throws(() => queue.push({ id: 2, req: { asks: [] }, deadline: 9, ticket: 0 }), /deadlines never go back/);
  });
});
