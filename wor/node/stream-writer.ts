
import { assert } from "../../verify/runtime/assert.ts";
import { WIRE_LIMITS } from "../../proto/limits.ts";

/** The part of a Node writable (a grpc-js call, a Duplex) the writer needs. */
export interface FrameStream {
  /** `done` runs once the stream has passed the chunk on (for grpc-js: written into HTTP/2). */
  write(chunk: Uint8Array, done: (error?: Error | null) => void): boolean;
  once(event: "drain", listener: () => void): unknown;
  end?(): unknown;
}

const STREAM_WRITER_LIMITS = Object.freeze({
  /** Frames queued behind a stream that stopped reading before the writer gives up on it. */
  queuedFramesMax: 65_536,
  /** Encoded bytes handed to the stream and not yet passed on; past it the writer queues instead. */
  unflushedBytesMax: 4 << 20,
  /** Estimated bytes of queued frames coalesced into one envelope. */
  coalesceBytesMax: 1 << 20,
});

export interface StreamWriterOptions<T> {
  readonly encode: (frames: readonly T[]) => Uint8Array;
  /** Called once when the writer gives up (queue overflow, unencodable frame). */
  readonly onFail: (error: Error) => void;
  /** Called whenever `pendingBytes` may have changed (frames queued, envelopes passed on). */
  readonly onPendingChange?: () => void;
  readonly envelopeBytesMax?: number;
  readonly framesPerEnvelopeMax?: number;
  readonly queuedFramesMax?: number;
  readonly unflushedBytesMax?: number;
  readonly coalesceBytesMax?: number;
  /**
   * A single frame too large for any envelope: return a replacement (e.g. an error reply with the
   * same id) or undefined to fail the writer.
   */
  readonly oversize?: (frame: T, bytes: number) => T | undefined;
  /**
   * An estimate of a frame's encoded size. With it the writer picks an envelope's frames before
   * encoding, instead of encoding too much and halving (which matters with large values), and
   * counts its queue in `pendingBytes`.
   */
  readonly frameBytes?: (frame: T) => number;
}

class StreamWriterCounters {
  envelopes = 0;
  frames = 0;
  bytes = 0;
  /** Times the stream pushed back (`write()` returned false or too much was unflushed). */
  stalls = 0;
}

export class StreamWriter<T> {
  readonly counters = new StreamWriterCounters();
  private queue: T[] = [];
  /** The `frameBytes` estimate of each queued frame (0 without an estimate). */
  private sizes: number[] = [];
  private queuedBytes = 0;
  private unflushed = 0;
  private awaitingDrain = false;
  private flushing = false;
  private ending = false;
  /** The stream was ended (after the queue went out) or dropped: nothing is written any more. */
  private done = false;
  private failure: Error | undefined;
  private readonly bytesMax: number;
  private readonly framesMax: number;
  private readonly queuedMax: number;
  private readonly unflushedMax: number;
  private readonly coalesceMax: number;

  constructor(
    private readonly stream: FrameStream,
    private readonly options: StreamWriterOptions<T>,
  ) {
    this.bytesMax = options.envelopeBytesMax ?? WIRE_LIMITS.envelopeBytesMax;
    this.framesMax = options.framesPerEnvelopeMax ?? WIRE_LIMITS.framesMax;
    this.queuedMax = options.queuedFramesMax ?? STREAM_WRITER_LIMITS.queuedFramesMax;
    this.unflushedMax = options.unflushedBytesMax ?? STREAM_WRITER_LIMITS.unflushedBytesMax;
    this.coalesceMax = Math.min(this.bytesMax, options.coalesceBytesMax ?? STREAM_WRITER_LIMITS.coalesceBytesMax);
    assert(this.bytesMax > 0 && this.framesMax > 0 && this.queuedMax > 0 && this.unflushedMax > 0 && this.coalesceMax > 0, "stream writer limits must be positive");
  }

  /** Frames waiting for the stream to catch up. */
  get queued(): number {
    return this.queue.length;
  }

  /** Bytes held for the peer: the queue (estimated) plus what the stream has not passed on yet. */
  get pendingBytes(): number {
    return this.queuedBytes + this.unflushed;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** True while the stream pushes back. */
  get stalled(): boolean {
    return this.awaitingDrain || this.unflushed >= this.unflushedMax;
  }

  /** Queue frames for writing; false when the writer is closed or failed (the frames are dropped). */
  push(frames: readonly T[]): boolean {
    if (this.done || this.ending) return false;
    if (frames.length === 0) return true;
    const estimate = this.options.frameBytes;
    for (const f of frames) {
      const size = estimate ? estimate(f) : 0;
      this.queue.push(f);
      this.sizes.push(size);
      this.queuedBytes += size;
    }
    if (this.queue.length > this.queuedMax) {
      this.fail(new Error(`${this.queue.length} frames queued behind a stream that is not reading (limit ${this.queuedMax})`));
      return false;
    }
    this.flush();
    this.options.onPendingChange?.();
    return this.failure === undefined;
  }

  /** Write what is queued, then end the stream. */
  end(): void {
    if (this.done || this.ending) return;
    this.ending = true;
    this.flush();
  }

  /** Drop the queue without ending the stream (the stream is already gone). */
  close(): void {
    this.done = true;
    this.queue = [];
    this.sizes = [];
    this.queuedBytes = 0;
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && !this.stalled && !this.done) {
        const envelope = this.nextEnvelope();
        if (!envelope) return;
        this.write(envelope);
      }
      // A stream may end while it pushes back: it still delivers what it buffered.
      if (this.ending && !this.done && this.queue.length === 0) {
        this.done = true;
        this.stream.end?.();
      }
    } finally {
      this.flushing = false;
    }
  }

  private write(envelope: Uint8Array): void {
    this.counters.envelopes++;
    this.counters.bytes += envelope.byteLength;
    this.unflushed += envelope.byteLength;
    const writable = this.stream.write(envelope, () => {
      this.unflushed -= envelope.byteLength;
      this.flush();
      this.options.onPendingChange?.();
    });
    if (!writable) {
      this.awaitingDrain = true;
      this.stream.once("drain", () => {
        this.awaitingDrain = false;
        this.flush();
        this.options.onPendingChange?.();
      });
    }
    if (this.stalled) this.counters.stalls++;
  }

  /** Encode the longest prefix of the queue that fits one envelope, and take it off the queue. */
  private nextEnvelope(): Uint8Array | undefined {
    let count = Math.min(this.queue.length, this.framesMax);
    if (this.options.frameBytes) {
      let sum = 0;
      for (let i = 0; i < count; i++) {
        sum += this.sizes[i]!;
        if (sum > this.coalesceMax && i > 0) {
          count = i;
          break;
        }
      }
    }
    for (;;) {
      const chunk = this.queue.slice(0, count);
      const bytes = this.options.encode(chunk);
      if (bytes.byteLength <= this.bytesMax) {
        this.queue.splice(0, count);
        for (const size of this.sizes.splice(0, count)) this.queuedBytes -= size;
        this.counters.frames += count;
        return bytes;
      }
      if (count > 1) {
        count = Math.ceil(count / 2);
        continue;
      }
      const replacement = this.options.oversize?.(chunk[0]!, bytes.byteLength);
      if (replacement === undefined || this.options.encode([replacement]).byteLength > this.bytesMax) {
        this.fail(new Error(`a frame of ${bytes.byteLength} bytes exceeds the envelope limit of ${this.bytesMax}`));
        return undefined;
      }
      const size = this.options.frameBytes?.(replacement) ?? 0;
      this.queuedBytes += size - this.sizes[0]!;
      this.queue[0] = replacement;
      this.sizes[0] = size;
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.close();
    this.options.onFail(error);
  }
}
