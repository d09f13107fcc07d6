/**
 * Writing batched frames to a stream with backpressure (DESIGN.md §3.3), for both ends of the
 * session: the server writes ServerFrames, the client ClientFrames.
 *
 * While the stream is writable, `push` encodes the frames into an envelope and writes it at once.
 * When `write()` returns false the writer stops writing and queues; on 'drain' it coalesces the
 * whole queue into as few envelopes as the limits allow. The batching is self-clocking: the slower
 * the peer reads, the larger the envelopes. The queue is bounded: past `queuedFramesMax` the writer
 * fails (the owner closes the stream) rather than grow without limit.
 */
import { LIMITS } from "../../paxos/limits.ts";
import { assert } from "../../verify/runtime/assert.ts";

/** The part of a Node writable (a grpc-js call, a Duplex) the writer needs. */
export interface FrameStream {
  write(chunk: Uint8Array): boolean;
  once(event: "drain", listener: () => void): unknown;
  end?(): unknown;
}

export const STREAM_WRITER_LIMITS = Object.freeze({
  /** Frames queued behind a stream that stopped reading before the writer gives up on it. */
  queuedFramesMax: 65_536,
});

export interface StreamWriterOptions<T> {
  readonly encode: (frames: readonly T[]) => Uint8Array;
  /** Called once when the writer gives up (queue overflow, unencodable frame). */
  readonly onFail: (error: Error) => void;
  readonly envelopeBytesMax?: number;
  readonly framesPerEnvelopeMax?: number;
  readonly queuedFramesMax?: number;
  /**
   * A single frame too large for any envelope: return a replacement (e.g. an error reply with the
   * same id) or undefined to fail the writer.
   */
  readonly oversize?: (frame: T, bytes: number) => T | undefined;
  /**
   * An estimate of a frame's encoded size. With it the writer picks an envelope's frames before
   * encoding, instead of encoding too much and halving (which matters with large values).
   */
  readonly frameBytes?: (frame: T) => number;
}

export class StreamWriterCounters {
  envelopes = 0;
  frames = 0;
  bytes = 0;
  /** Times the stream pushed back (`write()` returned false). */
  stalls = 0;
}

export class StreamWriter<T> {
  readonly counters = new StreamWriterCounters();
  private queue: T[] = [];
  private waiting = false;
  private ending = false;
  private done = false;
  private failure: Error | undefined;
  private readonly bytesMax: number;
  private readonly framesMax: number;
  private readonly queuedMax: number;

  constructor(
    private readonly stream: FrameStream,
    private readonly options: StreamWriterOptions<T>,
  ) {
    this.bytesMax = options.envelopeBytesMax ?? LIMITS.envelopeBytesMax;
    this.framesMax = options.framesPerEnvelopeMax ?? LIMITS.framesMax;
    this.queuedMax = options.queuedFramesMax ?? STREAM_WRITER_LIMITS.queuedFramesMax;
    assert(this.bytesMax > 0 && this.framesMax > 0 && this.queuedMax > 0, "stream writer limits must be positive");
  }

  /** Frames waiting for the stream to drain. */
  get queued(): number {
    return this.queue.length;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** True while the stream pushes back. */
  get stalled(): boolean {
    return this.waiting;
  }

  /** Queue frames for writing; false when the writer is closed or failed (the frames are dropped). */
  push(frames: readonly T[]): boolean {
    if (this.done || this.ending) return false;
    if (frames.length === 0) return true;
    for (const f of frames) this.queue.push(f);
    if (this.queue.length > this.queuedMax) {
      this.fail(new Error(`${this.queue.length} frames queued behind a stream that is not reading (limit ${this.queuedMax})`));
      return false;
    }
    if (!this.waiting) this.flush();
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
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.waiting && !this.done) {
      const envelope = this.nextEnvelope();
      if (!envelope) return;
      this.counters.envelopes++;
      this.counters.bytes += envelope.byteLength;
      if (!this.stream.write(envelope)) {
        this.counters.stalls++;
        this.waiting = true;
        this.stream.once("drain", () => {
          this.waiting = false;
          this.flush();
        });
      }
    }
    // A stream may end while it pushes back: it still delivers what it buffered.
    if (this.ending && !this.done && this.queue.length === 0) {
      this.done = true;
      this.stream.end?.();
    }
  }

  /** Encode the longest prefix of the queue that fits one envelope, and take it off the queue. */
  private nextEnvelope(): Uint8Array | undefined {
    let count = Math.min(this.queue.length, this.framesMax);
    const estimate = this.options.frameBytes;
    if (estimate) {
      let sum = 0;
      for (let i = 0; i < count; i++) {
        sum += estimate(this.queue[i]!);
        if (sum > this.bytesMax && i > 0) {
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
      this.queue[0] = replacement;
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.close();
    this.options.onFail(error);
  }
}
