/**
 * Apply times for delivery-delay benchmarks (bench/logplayer.ts, bench/peers/nats-delivery.mjs): a
 * shard process appends `(key, ms)` records — two little-endian float64s, 16 bytes — to a file as it
 * makes writes durable; the bench reads them as they come. The clock is `nowMs()`, the system-wide
 * monotonic clock (CLOCK_MONOTONIC via `process.hrtime`), the same in every process on the machine,
 * so a time taken in the appender's process and one taken in a shard's process subtract soundly.
 */
import { type FileHandle, open } from "node:fs/promises";

export const APPLY_RECORD_BYTES = 16;
/** The environment variables naming the files the probes of bench/lib/apply-times-hook.ts append to. */
export const APPLY_TIMES_ENV = "WORM_BENCH_APPLY_TIMES";
export const RECEIVE_TIMES_ENV = "WORM_BENCH_RECEIVE_TIMES";
export const OFFER_TIMES_ENV = "WORM_BENCH_OFFER_TIMES";

/** Milliseconds on the machine-wide monotonic clock (not since this process started). */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Reads a growing apply-times file incrementally: key → the time it was durable. */
export class ApplyTimes {
  readonly at = new Map<number, number>();
  private offset = 0;
  private constructor(private readonly fh: FileHandle) {}

  static async open(file: string): Promise<ApplyTimes> {
    return new ApplyTimes(await open(file, "a+"));
  }

  /** Read the records appended since the last poll (whole records only). */
  async poll(): Promise<void> {
    const { size } = await this.fh.stat();
    const whole = Math.floor((size - this.offset) / APPLY_RECORD_BYTES) * APPLY_RECORD_BYTES;
    if (whole <= 0) return;
    const buf = Buffer.alloc(whole);
    const { bytesRead } = await this.fh.read(buf, 0, whole, this.offset);
    const n = Math.floor(bytesRead / APPLY_RECORD_BYTES);
    for (let i = 0; i < n; i++) this.at.set(buf.readDoubleLE(i * APPLY_RECORD_BYTES), buf.readDoubleLE(i * APPLY_RECORD_BYTES + 8));
    this.offset += n * APPLY_RECORD_BYTES;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
