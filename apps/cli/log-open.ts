/**
 * How a `worm log` command reaches its log: a client to the acceptors, and a token source, which is
 * a remote sequencer (`--sequencer host:port[,host:port]`, else the cluster file's `sequencers`,
 * tried in order), an embedded one (`--embedded-sequencer`, single-writer mode: this process is the
 * log's only sequencer while it runs), or none (reads; the tail by scanning). `--timeout` bounds
 * each log operation as a whole; a failure names what did not answer, and a log that does not exist
 * says so in the log's words.
 */
import { randomUUID } from "node:crypto";
import * as Option from "effect/Option";
import { Flag } from "effect/cli";
import { type Backpointer, PREV_UNKNOWN } from "../log/core/entry.ts";
import { READ_DEFAULTS, scanTail } from "../log/core/read.ts";
import { LogError } from "../log/node/log-error.ts";
import { type GrantRequest, type LogResult, logFail, logOk } from "../log/core/steps.ts";
import type { Grant } from "../log/core/tokens.ts";
import { WormLog } from "../log/node/log-client.ts";
import { REMOTE_TOKEN_DEFAULTS, RemoteTokenSource } from "../log/node/remote-tokens.ts";
import { SequencerNode } from "../log/node/sequencer-node.ts";
import type { TokenSource } from "../log/node/token-source.ts";
import { type WorClient, WorError } from "../../wor/node/client.ts";
import { drive } from "../../wor/node/driver.ts";
import { type ConnectionInput, type Target, checkSpaceName, openClient, openTyped, parsePeers, resolveTarget } from "./cluster.ts";
import { type CliFailure, usage } from "./errors.ts";

export const sequencerFlag = Flag.optional(
  Flag.String("sequencer").pipe(
    Flag.withDescription("remote sequencer(s) host:port[,host:port] in failover order (default: the cluster file's sequencers; see 'worm log sequencer')"),
  ),
);

/** Which token source a command wants: appends need one (remote, or embedded on request); reads
 *  use a remote one when there is one, else scan. */
export type Tokens = { readonly kind: "append"; readonly embedded: boolean } | { readonly kind: "read" };

/**
 * A token source for reads without a sequencer: it grants no tokens; its tail is the scanned one
 * and every stream's tail is unknown, so stream readers scan back from the tail.
 */
class ScannedTails implements TokenSource {
  constructor(private readonly client: WorClient) {}

  async grant(log: string, request: GrantRequest): Promise<LogResult<Grant>> {
    if (request.asks.length > 0) return logFail("unavailable", "no sequencer: this command only reads");
    let segmentSize: number;
    try {
      segmentSize = (await this.client.openSpace(log, "log")).segmentSize;
    } catch (e) {
      if (e instanceof WorError) return { ok: false, failure: e.failure };
      throw e;
    }
    const tail = await drive(scanTail({ ...READ_DEFAULTS, log, segmentSize }), this.client);
    if (!tail.ok) return tail;
    const streamTails: Backpointer[] = (request.streams ?? []).map(() => PREV_UNKNOWN);
    return logOk({ tokens: [], tail: tail.value, streamTails });
  }

  close(): void {}
}

export interface OpenLog {
  readonly log: WormLog;
  /** The client the log reads through (for what a command builds beside the log). */
  readonly client: WorClient;
  readonly target: Target;
  /** "sequencer" (remote), "embedded" or "scan". */
  readonly tokens: "sequencer" | "embedded" | "scan";
}

/** Open the log named `name`, run `f`, close everything; failures become CliFailures. */
export async function withLog<T>(conn: ConnectionInput, name: string, sequencer: Option.Option<string>, tokens: Tokens, f: (o: OpenLog) => Promise<T>): Promise<T> {
  const log = checkSpaceName(name);
  const flagged = Option.map(sequencer, (s) => parsePeers(s, "--sequencer"));
  const embedded = tokens.kind === "append" && tokens.embedded;
  if (embedded && Option.isSome(flagged)) throw usage("give --sequencer or --embedded-sequencer, not both");
  const target = await resolveTarget(conn);
  const remote = Option.getOrElse(flagged, () => (embedded ? [] : target.sequencers));
  if (tokens.kind === "append" && !embedded && remote.length === 0) {
    throw usage("no sequencer to append through: give --sequencer host:port, name sequencers in the cluster file, or --embedded-sequencer (single-writer mode)");
  }
  const { client, failure } = openClient(target);
  let source: TokenSource;
  let kind: OpenLog["tokens"];
  if (remote.length > 0) {
    source = new RemoteTokenSource({ addresses: remote, deadlineMs: Math.min(REMOTE_TOKEN_DEFAULTS.deadlineMs, target.timeoutMs), ...target.security });
    kind = "sequencer";
  } else if (embedded) {
    source = new SequencerNode({ client, owner: `worm-cli-${randomUUID()}` });
    kind = "embedded";
  } else {
    source = new ScannedTails(client);
    kind = "scan";
  }
  try {
    // Refuse a space of another kind (or of another --segment-size) before anything is written.
    await openTyped(client, target, log, "log");
    return await f({ log: new WormLog({ client, log, tokens: source, timeoutMs: target.timeoutMs }), client, target, tokens: kind });
  } catch (e) {
    throw noSuchLog(e, log) ?? failure(e);
  } finally {
    await source.close();
    client.close();
  }
}

/** A log that does not exist, in the log's words. */
function noSuchLog(e: unknown, log: string): CliFailure | undefined {
  const unknown = (e instanceof WorError && e.code === "unknownSpace") || (e instanceof LogError && e.failure.code === "unknownSpace");
  return unknown ? usage(`no log named ${log}; create it with 'worm log create ${log}'`) : undefined;
}
