/** The log's byte codec (apps/log/core/bytes.ts): strings written in place or encoded agree with TextEncoder, and read back. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ByteWriter, readAll, utf8Length, utf8Text, varintLength } from "../../../apps/log/core/bytes.ts";

const utf8 = new TextEncoder();
/** Any UTF-16 string, lone surrogates included. */
const anyUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((cs) => String.fromCharCode(...cs));
const strings = fc.oneof(anyUnits, fc.string({ unit: "grapheme", maxLength: 20 }), fc.string({ maxLength: 40 }));

describe("the log's byte codec", () => {
  it("measures a string's UTF-8 bytes as TextEncoder writes them", () => {
    fc.assert(fc.property(strings, (s) => assert.equal(utf8Length(s), utf8.encode(s).length)));
    assert.equal(utf8Length("\ud800"), 3, "a lone high surrogate is U+FFFD");
    assert.equal(utf8Length("a\ud800"), 4, "a high surrogate at the end is alone");
    assert.equal(utf8Length("\ud83d\ude00"), 4, "a pair is one code point");
  });

  it("measures a varint as the writer writes it", () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.maxSafeNat()), (x) => {
        const w = new ByteWriter(1);
        w.varint(x);
        assert.equal(w.done().length, varintLength(x));
      }),
      { numRuns: 2_000 },
    );
  });

  it("writes a string as TextEncoder's bytes after their length, and reads it back", () => {
    fc.assert(
      fc.property(fc.array(strings.filter((s) => s.length > 0), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 256 }), (ss, hint) => {
        const w = new ByteWriter(hint);
        for (const s of ss) w.str(s);
        const expected = new ByteWriter();
        for (const s of ss) expected.blob(utf8.encode(s));
        const bytes = w.done();
        assert.deepEqual(bytes, expected.done());
        const back = readAll(bytes, (r) => ss.map(() => r.str("s", 1 << 10)));
        assert.deepEqual(back, ss.map((s) => new TextDecoder().decode(utf8.encode(s))));
      }),
    );
  });

  it("reads UTF-8 as a strict TextDecoder does, short ASCII without one, and refuses what is not UTF-8", () => {
    const strict = new TextDecoder("utf-8", { fatal: true });
    const expected = (b: Uint8Array): string | undefined => {
      try {
        return strict.decode(b);
      } catch {
        return undefined;
      }
    };
    const anyBytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ max: 0x7f, maxLength: 300 }),
      strings.map((s) => utf8.encode(s)),
    );
    fc.assert(fc.property(anyBytes, (b) => assert.equal(utf8Text(b), expected(b))), { numRuns: 3_000 });
    assert.equal(utf8Text(new Uint8Array([0x61, 0xff])), undefined, "a byte that starts nothing");
    assert.equal(utf8Text(new Uint8Array(0)), "");
    assert.equal(utf8Text(utf8.encode("x".repeat(500))), "x".repeat(500), "ASCII longer than read inline");
  });
});
