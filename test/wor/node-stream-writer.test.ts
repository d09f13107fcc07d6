import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { type FrameStream, StreamWriter } from "../../wor/node/stream-writer.ts";

/**
 * A stream that accepts `capacity` writes, then pushes back until the test drains it. Like a grpc-js
 * call, it passes a write on (runs its callback) only when drained.
 */
class FakeStream extends EventEmitter implements FrameStream {
  readonly written: number[][] = [];
  ended = false;
  private buffered = 0;
  private callbacks: (() => void)[] = [];
  constructor(private readonly capacity: number) {
    super();
  }
  write(chunk: Uint8Array, done: () => void): boolean {
    assert.equal(this.ended, false, "write after end");
    this.written.push(decode(chunk));
    this.callbacks.push(done);
    this.buffered++;
    return this.buffered < this.capacity;
  }
  /** Pass every write on; 'drain' if the stream had pushed back. */
  drain(): void {
    const full = this.buffered >= this.capacity;
    this.buffered = 0;
    for (const done of this.callbacks.splice(0)) done();
    if (full) this.emit("drain");
  }
  end(): void {
    this.ended = true;
  }
}

// Frames are numbers; an envelope is one byte per frame.
const encode = (frames: readonly number[]) => new Uint8Array(frames);
const decode = (chunk: Uint8Array) => [...chunk];

describe("StreamWriter", () => {
  test("writes at once while writable, queues on write()===false, coalesces the queue on drain", () => {
    const stream = new FakeStream(2);
    const w = new StreamWriter<number>(stream, { encode, onFail: (e) => assert.fail(e) });
    w.push([1]);
    assert.deepEqual(stream.written, [[1]]);
    w.push([2, 3]);
    assert.deepEqual(stream.written, [[1], [2, 3]], "second write returned false");
    assert.equal(w.stalled, true);
    w.push([4]);
    w.push([5, 6]);
    w.push([7]);
    assert.equal(stream.written.length, 2, "nothing written while the stream pushes back");
    assert.equal(w.queued, 4);
    stream.drain();
    assert.deepEqual(stream.written, [[1], [2, 3], [4, 5, 6, 7]], "the queue went out as one envelope");
    assert.equal(w.queued, 0);
    assert.equal(w.counters.stalls, 1);
    assert.equal(w.counters.frames, 7);
  });

  test("coalescing respects the frames-per-envelope and byte limits", () => {
    const stream = new FakeStream(1);
    const w = new StreamWriter<number>(stream, { encode, onFail: (e) => assert.fail(e), framesPerEnvelopeMax: 3, envelopeBytesMax: 2 });
    w.push([0]);
    w.push([1, 2, 3, 4, 5]);
    assert.equal(w.queued, 5);
    // Each drain lets one envelope through (capacity 1); the byte limit (2) is tighter than 3 frames.
    const sizes: number[] = [];
    while (w.queued > 0) {
      stream.drain();
      sizes.push(stream.written.at(-1)!.length);
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(stream.written.flat(), [0, 1, 2, 3, 4, 5], "order is kept");
  });

  test("a queue past queuedFramesMax fails the writer instead of growing", () => {
    const stream = new FakeStream(1);
    const failures: Error[] = [];
    const w = new StreamWriter<number>(stream, { encode, onFail: (e) => failures.push(e), queuedFramesMax: 4 });
    w.push([0]);
    assert.equal(w.push([1, 2, 3]), true);
    assert.equal(w.push([4, 5]), false);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.message, /queued/);
    assert.equal(w.queued, 0);
    assert.equal(w.push([6]), false, "a failed writer takes nothing");
    stream.drain();
    assert.deepEqual(stream.written, [[0]]);
  });

  test("an oversize frame is replaced through the hook, or fails the writer without one", () => {
    const big = (frames: readonly number[]) => new Uint8Array(frames.reduce((n, f) => n + f, 0));
    const stream = new FakeStream(10);
    const w = new StreamWriter<number>(stream, { encode: big, onFail: (e) => assert.fail(e), envelopeBytesMax: 10, oversize: () => 1 });
    w.push([3, 50, 4]);
    assert.deepEqual(stream.written.map((c) => c.length), [3, 1, 4]);

    const failures: Error[] = [];
    const w2 = new StreamWriter<number>(new FakeStream(10), { encode: big, onFail: (e) => failures.push(e), envelopeBytesMax: 10 });
    w2.push([50]);
    assert.equal(failures.length, 1);
  });

  test("end() flushes the queue before ending the stream", () => {
    const stream = new FakeStream(1);
    const w = new StreamWriter<number>(stream, { encode, onFail: (e) => assert.fail(e) });
    w.push([1]);
    w.push([2]);
    w.end();
    assert.equal(stream.ended, false, "frames still queued");
    assert.equal(w.push([3]), false, "no pushes after end");
    stream.drain();
    assert.equal(stream.ended, true);
    assert.deepEqual(stream.written, [[1], [2]]);
  });
});

describe("StreamWriter byte accounting", () => {
  const bytes = (frames: readonly number[]) => new Uint8Array(frames.reduce((n, f) => n + f, 0));

  test("stops writing while unflushedBytesMax bytes were not passed on, though write() still says true", () => {
    const stream = new FakeStream(1_000);
    const changes: number[] = [];
    const w: StreamWriter<number> = new StreamWriter<number>(stream, {
      encode: bytes,
      frameBytes: (f) => f,
      onFail: (e) => assert.fail(e),
      unflushedBytesMax: 100,
      onPendingChange: () => changes.push(w.pendingBytes),
    });
    w.push([60]);
    w.push([50]);
    assert.equal(stream.written.length, 2, "60 + 50: the second write crosses the bound");
    assert.equal(w.stalled, true);
    w.push([30]);
    w.push([40]);
    assert.equal(stream.written.length, 2, "nothing more is written");
    assert.equal(w.pendingBytes, 180, "110 unflushed + 70 queued");
    stream.drain();
    assert.deepEqual(stream.written.map((c) => c.length), [60, 50, 70], "the queue went out coalesced");
    assert.equal(w.pendingBytes, 70);
    stream.drain();
    assert.equal(w.pendingBytes, 0);
    assert.deepEqual(changes, [60, 110, 140, 180, 120, 70, 0], "the owner hears of every change");
  });

  test("coalesces up to coalesceBytesMax; a larger frame goes alone", () => {
    const stream = new FakeStream(1);
    const w = new StreamWriter<number>(stream, { encode: bytes, frameBytes: (f) => f, onFail: (e) => assert.fail(e), coalesceBytesMax: 100, envelopeBytesMax: 1_000 });
    w.push([1]);
    w.push([40, 40, 40, 500, 10, 10]);
    while (w.queued > 0) stream.drain();
    assert.deepEqual(stream.written.map((c) => c.length), [1, 80, 40, 500, 20]);
  });

  test("a closed writer holds nothing", () => {
    const stream = new FakeStream(1);
    const w = new StreamWriter<number>(stream, { encode: bytes, frameBytes: (f) => f, onFail: (e) => assert.fail(e) });
    w.push([5]);
    w.push([7, 9]);
    assert.equal(w.pendingBytes, 21);
    w.close();
    assert.equal(w.queued, 0);
    stream.drain();
    assert.equal(w.pendingBytes, 0);
  });
});

describe("StreamWriter with a size estimate", () => {
  test("picks each envelope's frames before encoding, so large frames are not encoded over and over", () => {
    let encoded = 0;
    const sum = (frames: readonly number[]) => {
      encoded += frames.length;
      return new Uint8Array(frames.reduce((n, f) => n + f, 0));
    };
    const stream = new FakeStream(100);
    const w = new StreamWriter<number>(stream, { encode: sum, onFail: (e) => assert.fail(e), envelopeBytesMax: 100, frameBytes: (f) => f });
    w.push([60, 30, 50, 50, 90, 10]);
    assert.deepEqual(stream.written.map((c) => c.length), [90, 100, 100]);
    assert.equal(encoded, 6, "every frame encoded exactly once");
  });
});
