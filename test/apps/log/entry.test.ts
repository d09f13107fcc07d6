/**
 * The log's slot codec (apps/log/core/entry.ts) sizes what it writes without writing it: an entry is
 * encoded into a buffer of exactly its size, and `entryTooLarge` judges an entry by arithmetic (on
 * `utf8Length` and `varintLength`, checked in bytes.test.ts), for any entry.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ENTRY_LIMITS, PREV_NONE, PREV_UNKNOWN, decodeSlot, encodeEntry, entryTooLarge } from "../../../apps/log/core/entry.ts";
import { LIMITS } from "../../../paxos/limits.ts";

const utf8 = new TextEncoder();
const name = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }).filter((s) => utf8.encode(s).length <= ENTRY_LIMITS.nameBytesMax);

describe("the log's slot codec sizes", () => {
  it("an entry encodes to exactly the size computed, and round-trips", () => {
    const entry = fc.record({
      key: fc.record({ client: name, seq: fc.maxSafeNat() }),
      streams: fc.uniqueArray(name, { maxLength: 4 }).chain((tags) =>
        fc.tuple(...tags.map((tag) => fc.record({ tag: fc.constant(tag), prev: fc.oneof(fc.constant(PREV_NONE), fc.constant(PREV_UNKNOWN), fc.nat()) }))),
      ),
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(entry, (e) => {
        const bytes = encodeEntry(e);
        assert.equal(bytes.buffer.byteLength, bytes.length, "no slack");
        const back = decodeSlot(bytes);
        assert.ok(!("_tag" in back) && back.kind === "entry");
        // structuredClone: fast-check's records have no prototype; decoded values are plain objects.
        assert.deepEqual(back.entry, structuredClone(e));
        // Judged as if every backpointer were as large as a slot can be.
        const worst = encodeEntry({ ...e, streams: e.streams.map((s) => ({ ...s, prev: Number.MAX_SAFE_INTEGER - 2 })) }).length;
        assert.equal(entryTooLarge({ key: e.key, streams: e.streams.map((s) => s.tag) }, e.payload) === undefined, worst <= LIMITS.valueBytesMax);
      }),
      { numRuns: 1_000 },
    );
  });

  it("entryTooLarge refuses an entry one byte over a slot, and names its size", () => {
    const key = { client: "c", seq: 1 };
    const fits = (n: number) => entryTooLarge({ key, streams: ["s"] }, new Uint8Array(n)) === undefined;
    let n = LIMITS.valueBytesMax - 20;
    while (fits(n + 1)) n++;
    assert.equal(encodeEntry({ key, streams: [{ tag: "s", prev: Number.MAX_SAFE_INTEGER - 2 }], payload: new Uint8Array(n) }).length, LIMITS.valueBytesMax);
    assert.match(entryTooLarge({ key, streams: ["s"] }, new Uint8Array(n + 1)) ?? "", new RegExp(`entry of ${LIMITS.valueBytesMax + 1} bytes`));
  });
});
