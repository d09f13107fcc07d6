/**
 * `worm log subscribe`'s subscription, which outlives a quorum loss like a NATS consumer: when the
 * subscription fails for want of a quorum or of time (a transient failure), it says so on stderr,
 * tries one read at a time until the log answers again, says so, and subscribes again from the slot
 * after the last entry it delivered, so that no entry is delivered twice or skipped. Any other
 * failure ends it.
 */
import type { SettledRead } from "../log/core/read.ts";
import { isTransient } from "../log/core/steps.ts";
import type { WormLog } from "../log/node/log-client.ts";
import { LogError } from "../log/node/log-error.ts";
import { WorError } from "../../wor/node/client.ts";
import { oneLine } from "./errors.ts";

const FOLLOW_LIMITS = Object.freeze({
  /** Pause between attempts to reach the log again. */
  retryMs: 500,
});

const transient = (e: unknown): string | undefined =>
  (e instanceof LogError && isTransient(e.failure.code)) || (e instanceof WorError && isTransient(e.code)) ? oneLine((e as Error).message) : undefined;

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** Entries from `from` on, resuming after transient failures; `notice` gets one line per loss and per recovery. */
export async function* follow(log: WormLog, from: number, stream: string | undefined, signal: AbortSignal, notice: (line: string) => void): AsyncGenerator<SettledRead> {
  let next = from;
  while (!signal.aborted) {
    try {
      for await (const r of log.subscribe(next, { signal, ...(stream !== undefined ? { stream } : {}) })) {
        next = r.slot + 1;
        yield r;
      }
      return;
    } catch (e) {
      const why = transient(e);
      if (why === undefined) throw e;
      notice(`lost ${log.name} (${why}); resuming at slot ${next} once it answers again`);
    }
    for (;;) {
      await pause(FOLLOW_LIMITS.retryMs, signal);
      if (signal.aborted) return;
      try {
        await log.read(next);
        break;
      } catch (e) {
        if (transient(e) === undefined) throw e;
      }
    }
    notice(`${log.name} answers again; resuming at slot ${next}`);
  }
}
