/** Flag helpers shared by the verbs. */
import { Flag } from "effect/cli";

/**
 * A default that `--help` shows: effect/cli keeps a default out of the help text, so the
 * description says it, from the same value: `Flag.Int("timeout").pipe(withDefaultShown("…", 3000))`.
 */
export const withDefaultShown =
  <A>(description: string, value: A) =>
  (self: Flag.Flag<A>): Flag.Flag<A> =>
    self.pipe(Flag.withDescription(`${description} (default: ${String(value)})`), Flag.withDefault(value));
