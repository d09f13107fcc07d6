/**
 * How `worm` fails: every failure becomes ONE line `worm: <message>` on stderr and a non-zero exit
 * code, never a stack trace.
 *
 *   0  success
 *   1  operational failure (unreachable acceptors, no quorum in time, storage, I/O)
 *   2  bad input (flags, arguments, cluster file, space names, a data directory that must not start)
 *   3  refused by the protocol: the register holds another value, was trimmed, or a capture was preempted
 *   4  outcome unknown: a write was preempted after it was sent (settle with `worm wor read --recover`)
 */
import * as Effect from "effect/Effect";
import { ClusterConfigError } from "../../wor/node/cluster-config.ts";
import { WorError } from "../../wor/node/client.ts";
import { IdentityRefused } from "../../wor/node/acceptor-node.ts";
import { AcceptorStartFailure } from "../../wor/node/start-failure.ts";
import { LogError } from "../log/node/log-error.ts";

export const EXIT = Object.freeze({ ok: 0, operational: 1, usage: 2, refused: 3, unknown: 4 });
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports as one line with an exit code. */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usage = (message: string): CliFailure => new CliFailure(message, EXIT.usage);
export const operational = (message: string): CliFailure => new CliFailure(message, EXIT.operational);

/** WOR failure codes that mean the input was wrong, not the cluster. */
const INPUT_CODES = new Set(["invalid", "tooLarge", "unknownSpace", "wrongKind"]);

/** Any thrown value as a CliFailure with one line of text. */
export function toFailure(e: unknown): CliFailure {
  if (e instanceof CliFailure) return e;
  if (e instanceof WorError) {
    const code = INPUT_CODES.has(e.code) ? EXIT.usage : EXIT.operational;
    return new CliFailure(describeWor(e), code);
  }
  if (e instanceof LogError) return new CliFailure(describeLog(e), LOG_EXIT[e.failure.code] ?? EXIT.operational);
  if (e instanceof ClusterConfigError) return usage(`invalid cluster file: ${e.errors.join("; ")}`);
  if (e instanceof IdentityRefused) return usage(`refusing to start: ${e.message}`);
  if (e instanceof AcceptorStartFailure) return e.reason === "refused" ? usage(e.message) : operational(e.message);
  if (e instanceof Error) {
    const sys = e as NodeJS.ErrnoException;
    if (sys.code === "ENOENT" && sys.path) return usage(`no such file: ${sys.path}`);
    if (sys.code === "EACCES" && sys.path) return operational(`permission denied: ${sys.path}`);
    return operational(e.message || e.name);
  }
  return operational(String(e));
}

function describeWor(e: WorError): string {
  switch (e.code) {
    case "timeout":
      return `no quorum of acceptors answered in time (${e.failure.message})`;
    case "unknownSpace":
      return `${e.failure.message} (create it with 'worm space create')`;
    case "wrongKind":
      return e.failure.message;
    default:
      return `${e.code}: ${e.failure.message}`;
  }
}

/** Log failure codes that are not operational (exit 1). */
const LOG_EXIT: Partial<Record<LogError["failure"]["code"], ExitCode>> = { invalid: EXIT.usage, tooLarge: EXIT.usage, unknownSpace: EXIT.usage, wrongKind: EXIT.usage, trimmed: EXIT.refused };

function describeLog(e: LogError): string {
  switch (e.failure.code) {
    case "unknownSpace":
      return `${e.failure.message} (create the log with 'worm log create')`;
    case "wrongKind":
      return e.failure.message;
    case "timeout":
      return `timed out: ${e.failure.message}`;
    case "unavailable":
      return e.failure.message;
    default:
      return `${e.failure.code}: ${e.failure.message}`;
  }
}

/** One line: newlines and runs of spaces folded. */
export const oneLine = (message: string): string => message.replace(/\s*\n\s*/g, "; ").replace(/\s+/g, " ").trim();

/** A promise-returning task as an Effect whose failure is a CliFailure; `signal` aborts when the command is interrupted (Ctrl-C). */
export const task = <A>(f: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, CliFailure> => Effect.tryPromise({ try: f, catch: toFailure });
