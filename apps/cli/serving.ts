/**
 * The life of a long-running verb (`worm node`, `log sequencer`, `smr serve`, `txn participant`,
 * `shard serve`, `kv serve`): start it; once it serves, one JSON line `{"event":"listening",…}` (one
 * per thing it serves, when it serves several: `kv serve` of several partitions); serve until
 * SIGINT/SIGTERM, or until `failed` rejects (a storage failure ends the verb with that error); then
 * close what it opened and say `{"event":"stopped",…}` (likewise).
 */
import * as Effect from "effect/Effect";
import { task } from "./errors.ts";
import { printJson } from "./output.ts";
import { markServing } from "./run.ts";

type Fields = Record<string, unknown>;

export interface Served<S> {
  readonly start: () => Promise<S>;
  /** The fields of the listening line (of each, if several). */
  readonly listening: (s: S) => Fields | readonly Fields[];
  /** Rejects when the service fails on its own; never resolves. Without it, only a signal ends it. */
  readonly failed?: (s: S) => Promise<never>;
  readonly close: (s: S) => Promise<void>;
  /** The fields of the stopped line (of each, if several). */
  readonly stopped: (s: S) => Fields | readonly Fields[];
}

const lines = (fields: Fields | readonly Fields[]): readonly Fields[] => (Array.isArray(fields) ? (fields as readonly Fields[]) : [fields as Fields]);

export function serveUntilStopped<S>(o: Served<S>) {
  return Effect.acquireUseRelease(
    task(o.start),
    (s) =>
      Effect.andThen(
        Effect.sync(() => {
          markServing();
          for (const fields of lines(o.listening(s))) printJson({ event: "listening", ...fields });
        }),
        o.failed ? task(() => o.failed!(s)) : Effect.never,
      ),
    (s) =>
      Effect.promise(async () => {
        await o.close(s);
        for (const fields of lines(o.stopped(s))) printJson({ event: "stopped", ...fields });
      }),
  );
}
