/**
 * The life of a long-running verb (`worm node`, `log sequencer`, `smr serve`, `txn participant`,
 * `shard serve`): start it; once it serves, one JSON line `{"event":"listening",…}`; serve until
 * SIGINT/SIGTERM, or until `failed` rejects (a storage failure ends the verb with that error); then
 * close what it opened and say `{"event":"stopped",…}`.
 */
import * as Effect from "effect/Effect";
import { task } from "./errors.ts";
import { printJson } from "./output.ts";
import { markServing } from "./run.ts";

export interface Served<S> {
  readonly start: () => Promise<S>;
  /** The fields of the listening line. */
  readonly listening: (s: S) => Record<string, unknown>;
  /** Rejects when the service fails on its own; never resolves. Without it, only a signal ends it. */
  readonly failed?: (s: S) => Promise<never>;
  readonly close: (s: S) => Promise<void>;
  /** The fields of the stopped line. */
  readonly stopped: (s: S) => Record<string, unknown>;
}

export function serveUntilStopped<S>(o: Served<S>) {
  return Effect.acquireUseRelease(
    task(o.start),
    (s) =>
      Effect.andThen(
        Effect.sync(() => {
          markServing();
          printJson({ event: "listening", ...o.listening(s) });
        }),
        o.failed ? task(() => o.failed!(s)) : Effect.never,
      ),
    (s) =>
      Effect.promise(async () => {
        await o.close(s);
        printJson({ event: "stopped", ...o.stopped(s) });
      }),
  );
}
