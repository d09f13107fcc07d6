import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Net, REGISTERS, bytes, text } from "./core-harness.ts";

describe("WOR client core against acceptor cores", () => {
  it("creates a space, captures, writes and reads back", () => {
    const net = new Net();
    const c = net.client(1);
    net.value(0, c.createSpace("s", REGISTERS, net.now));
    const cap = net.value(0, c.capture("s", 0, 16, net.now));
    assert.equal(cap._tag, "Captured");
    if (cap._tag !== "Captured") return;
    const w = net.value(0, c.write(cap.capture, [{ index: 3, value: bytes("x") }], net.now));
    assert.deepEqual(w.get(3), { _tag: "Ok" });
    const reader = net.client(2, { cacheEntriesMax: 0 });
    const r = net.value(1, reader.read("s", 2, 5, false, net.now));
    assert.equal(r.get(2)?._tag, "Unwritten");
    const got = r.get(3);
    assert.equal(got?._tag, "Written");
    if (got?._tag === "Written") assert.equal(text(got.value), "x");
    assert.deepEqual(net.violations, []);
  });

  it("a later capture preempts the earlier one and adopts its partially written value", () => {
    const net = new Net();
    const a = net.client(1);
    const b = net.client(2);
    net.bootstrap("s");
    const ca = net.value(0, a.capture("s", 0, 1, net.now));
    assert.equal(ca._tag, "Captured");
    if (ca._tag !== "Captured") return;
    // a's write reaches only acceptor 0: not chosen, but present.
    const wa = a.write(ca.capture, [{ index: 0, value: bytes("A") }], net.now);
    net.run((m) => m.client === 0 && m.to === 0);
    net.queue = net.queue.filter((m) => m.client !== 0);
    net.advance(0);
    // b captures through acceptors 0 and 1 and must finish a's value.
    const cb = b.capture("s", 0, 1, net.now);
    net.run((m) => m.to !== 2);
    const rb = net.result(1, cb);
    assert.ok(rb?.ok);
    assert.equal(rb.value._tag, "Captured");
    if (rb.value._tag === "Captured") assert.equal(text(rb.value.written.get(0)!), "A");
    // a's write can no longer win with a different ballot: its next write is preempted.
    net.advance(10_000);
    const ra = net.result(0, wa);
    assert.ok(ra && !ra.ok, "a's write timed out: outcome unknown");
    const again = net.value(0, a.write(ca.capture, [{ index: 0, value: bytes("A") }], net.now));
    assert.ok(["Preempted", "AlreadyWritten"].includes(again.get(0)!._tag));
    assert.deepEqual(net.violations, []);
  });

  it("unsafeWrite at the owner ballot is refused where a capture already promised", () => {
    const net = new Net();
    const a = net.client(1);
    net.bootstrap("s");
    net.value(0, a.capture("s", 5, 6, net.now));
    const w = net.value(0, a.unsafeWrite("s", [{ index: 5, value: bytes("v") }], net.now));
    assert.equal(w.get(5)?._tag, "Preempted");
    const ok = net.value(0, a.unsafeWrite("s", [{ index: 6, value: bytes("v") }], net.now));
    assert.equal(ok.get(6)?._tag, "Ok");
    const second = net.result(0, a.unsafeWrite("s", [{ index: 6, value: bytes("w") }], net.now));
    assert.ok(second && !second.ok && second.failure.code === "invalid", "a second owner value is refused before any round trip");
    assert.match(second.failure.message, /single owner/);
  });

  it("alloc is first-wins and the loser learns the winner's metadata", () => {
    const net = new Net();
    const a = net.client(1);
    const b = net.client(2);
    net.bootstrap("log");
    const ra = net.value(0, a.alloc("log", 0, bytes("owner=a"), net.now));
    const rb = net.value(1, b.alloc("log", 0, bytes("owner=b"), net.now));
    assert.equal(ra._tag, "Allocated");
    assert.equal(rb._tag, "AlreadyAllocated");
    if (rb._tag === "AlreadyAllocated") assert.equal(text(rb.meta), "owner=a");
    const chk = net.value(1, b.check("log", 0, net.now));
    assert.equal(chk._tag, "Allocated");
  });

  it("trim refuses every operation below the mark", () => {
    const net = new Net();
    const a = net.client(1, { cacheEntriesMax: 0 });
    net.bootstrap("s");
    const cap = net.value(0, a.capture("s", 0, 32, net.now));
    if (cap._tag !== "Captured") throw new Error("not captured");
    net.value(0, a.write(cap.capture, [{ index: 1, value: bytes("1") }, { index: 20, value: bytes("20") }], net.now));
    assert.equal(net.value(0, a.trim("s", 16, net.now)), 16);
    assert.equal(net.value(0, a.read("s", 1, 2, false, net.now)).get(1)?._tag, "Trimmed");
    assert.equal(net.value(0, a.capture("s", 3, 4, net.now))._tag, "Trimmed");
    assert.equal(net.value(0, a.write(cap.capture, [{ index: 2, value: bytes("2") }], net.now)).get(2)?._tag, "Trimmed");
    assert.equal(net.value(0, a.unsafeWrite("s", [{ index: 4, value: bytes("4") }], net.now)).get(4)?._tag, "Trimmed");
    assert.equal(net.value(0, a.read("s", 20, 21, false, net.now)).get(20)?._tag, "Written");
    assert.deepEqual(net.violations, []);
  });

  it("a read with recovery settles a pending address", () => {
    const net = new Net();
    const a = net.client(1);
    const r = net.client(2, { cacheEntriesMax: 0 });
    net.bootstrap("s");
    const cap = net.value(0, a.capture("s", 0, 1, net.now));
    if (cap._tag !== "Captured") throw new Error("not captured");
    a.write(cap.capture, [{ index: 0, value: bytes("half") }], net.now);
    net.run((m) => m.client === 0 && m.to === 0);
    net.queue = [];
    // With acceptor 2 silent, the reader sees one value and one empty acceptor: a mixed picture.
    net.down.add(2);
    const plainOp = r.read("s", 0, 1, false, net.now);
    net.run();
    net.advance(10_000);
    const plain = net.value(1, plainOp);
    assert.equal(plain.get(0)?._tag, "Pending");
    const settledOp = r.read("s", 0, 1, true, net.now);
    net.run();
    net.advance(10_000);
    const settled = net.value(1, settledOp);
    const v = settled.get(0);
    assert.equal(v?._tag, "Written");
    if (v?._tag === "Written") assert.equal(text(v.value), "half");
  });

  it("an unknown space is a clear failure", () => {
    const net = new Net();
    const a = net.client(1);
    const op = a.read("nope", 0, 1, false, net.now);
    net.run();
    const r = net.result(0, op);
    assert.ok(r && !r.ok);
    assert.equal(r.failure.code, "unknownSpace");
  });

  it("commit notices linger to ride ahead of the next frames, or go alone once due", () => {
    const net = new Net();
    const c = net.client(1, { commitLingerMs: 5 });
    net.bootstrap("s");
    const commits = () => net.queue.filter((m) => m.request.kind === "commit");
    const cap = net.value(0, c.capture("s", 0, 16, net.now));
    assert.ok(cap._tag === "Captured");
    assert.deepEqual(net.value(0, c.write(cap.capture, [{ index: 1, value: bytes("a") }], net.now)).get(1), { _tag: "Ok" });
    assert.deepEqual(commits(), [], "nothing else went out: the notice waits");
    assert.equal(c.nextWakeup(), net.now + 5, "a wakeup when it is due");
    // The next write carries it, ahead of its accept (an acceptor then answers AlreadyWritten).
    c.write(cap.capture, [{ index: 2, value: bytes("b") }], net.now);
    net.collect();
    assert.deepEqual(
      net.queue.filter((m) => m.to === 0).map((m) => m.request.kind),
      ["commit", "accept"],
    );
    net.run();
    assert.deepEqual(commits(), []);
    // Alone, it goes once due.
    net.advance(4);
    net.collect();
    assert.deepEqual(commits(), [], "not yet due");
    net.advance(1);
    net.collect();
    assert.deepEqual(
      commits().map((m) => [m.to, m.request.kind === "commit" && m.request.indexes]),
      [
        [0, [2]],
        [1, [2]],
        [2, [2]],
      ],
    );
    assert.deepEqual(net.violations, []);
  });
});
