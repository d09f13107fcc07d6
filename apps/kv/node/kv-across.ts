/**
 * A KV node coordinating a transaction across partitions (docs/ARCHITECTURE.md §4.5, §4.3): the
 * write arrives at the node of its first partition, which splits it into parts (../core/cross.ts)
 * and commits them with the platform's transaction coordinator (apps/txn/node/coordinator.ts), each
 * partition's node a participant: this node's own partition in process, those of the other nodes
 * of this process too (`colocated`: each waits for its node's restart scan, as on its port, and a
 * prepare is bounded as a remote one is), the others over their nodes' participant service (the
 * same port as their KV API, named in the partition map).
 *
 * The answer: committed (every compare held, every part will be applied), or did not succeed (a
 * compare failed at some partition: nothing was written). A transaction aborted for another reason
 * (a key locked by another transaction, a partition that could not vote) is tried again as a new
 * transaction, for up to a quarter of the request's time (a transaction's deadline is another
 * quarter), then reported `aborted` (nothing was written).
 * A partition that moved (`worm kv move`) is followed: on an abort not caused by a compare, the
 * node reads the map again (`refreshMap`, ./newest-map.ts) and prepares the next
 * try at the nodes it names.
 * A transaction whose outcome this node cannot learn is reported `unavailable` or `timeout`: the
 * outcome is unknown, and the client does not try it again on its own (a retry would be a new
 * transaction, not the same one).
 */
import type { ClientSecurity } from "../../../wor/node/credentials.ts";
import type { WorClient } from "../../../wor/node/client.ts";
import { TxnCoordinator } from "../../txn/node/coordinator.ts";
import type { ParticipantLink } from "../../txn/node/driver.ts";
import type { Vote } from "../../txn/core/record.ts";
import type { TxnResult } from "../../txn/core/steps.ts";
import { type Participant, localParticipants } from "../../txn/node/participant.ts";
import { TIMED_OUT, until } from "../../../wor/node/deadlines.ts";
import { type RemoteParticipants, remoteParticipants } from "../../txn/node/remote-participants.ts";
import { TxnError } from "../../txn/node/txn-error.ts";
import { REFUSAL } from "../core/book.ts";
import type { KvTxn } from "../core/commands.ts";
import { crossTxnProblem, participantName, partProblem, splitTxn } from "../core/cross.ts";
import type { KvFailure } from "../core/messages.ts";
import type { PartitionMap } from "../core/partitions.ts";
import { encodeTxn } from "../core/records.ts";
import type { KvParticipant } from "./kv-participant.ts";
import { NewestMap } from "./newest-map.ts";

export interface AcrossOptions {
  readonly client: WorClient;
  /** The KV's transaction space. */
  readonly space: string;
  readonly map: PartitionMap;
  /** This node's partition, as a participant. */
  readonly participant: KvParticipant;
  /** Other partitions' participants served by this process, by name (their calls wait for their
   *  nodes' restart scans, as over the network): called directly, not through their ports. */
  readonly colocated?: ReadonlyMap<string, Participant>;
  /** How the other partitions' nodes are reached (TLS, token, cluster id). */
  readonly security?: ClientSecurity;
  /** A request's time: a transaction's deadline is a quarter of it, and so is the time to retry aborts. */
  readonly timeoutMs: number;
  /** Read the KV's newest map (a partition's node may have moved). */
  readonly refreshMap?: () => Promise<PartitionMap>;
}


export type AcrossAnswer = { readonly ok: true; readonly txn: number; readonly succeeded: boolean } | { readonly ok: false; readonly failure: KvFailure };

export interface Across {
  commit(txn: KvTxn): Promise<AcrossAnswer>;
  close(): void;
}

const failed = (code: KvFailure["code"], message: string): AcrossAnswer => ({ ok: false, failure: { code, message } });

export function across(o: AcrossOptions): Across {
  const me = o.participant.name;
  /** Each participant's node, as the newest map read says. */
  const addresses = new Map(o.map.partitions.map((p) => [participantName(p.id), p.node]));
  const maps = new NewestMap(o.map, o.refreshMap);
  const refresh = async () => {
    await maps.refresh();
    for (const p of maps.map.partitions) addresses.set(participantName(p.id), p.node);
  };
  const remote: RemoteParticipants = remoteParticipants({ ...(o.security ?? {}), addresses, prepareTimeoutMs: o.timeoutMs / 4 });
  /** The participants in this process: ours, and the other nodes' here. */
  const here = (name: string): Participant | undefined => (name === me ? o.participant : o.colocated?.get(name));
  const local = localParticipants(here);
  const prepareMs = o.timeoutMs / 4;
  /** Another node's vote in this process, as its port would answer: bounded as a remote prepare is,
   *  and a prepare that throws is an internal failure, not a NO. */
  const asFromItsPort = async (name: string, voting: Promise<TxnResult<Vote>>): Promise<TxnResult<Vote>> => {
    const caught = voting.catch((e: unknown): TxnResult<Vote> => ({ ok: false, failure: { code: "internal", message: `participant ${name}: ${(e as Error).message}` } }));
    const vote = await until(caught, Date.now() + prepareMs);
    return vote === TIMED_OUT ? { ok: false, failure: { code: "timeout", message: `participant ${name}: no vote within ${prepareMs} ms` } } : vote;
  };
  const link: ParticipantLink = {
    prepare: (name, request) => (name === me ? local.prepare(name, request) : here(name) ? asFromItsPort(name, local.prepare(name, request)) : remote.prepare(name, request)),
    notify: (name, space, txn, outcome) => (here(name) ? local : remote).notify(name, space, txn, outcome),
  };
  const coordinator = new TxnCoordinator({ client: o.client, space: o.space, participants: link, timeoutMs: o.timeoutMs / 4 });

  return {
    async commit(txn) {
      const problem = crossTxnProblem(txn);
      if (problem) return failed("invalid", problem);
      const parts = splitTxn(o.map, txn);
      const large = parts.map(partProblem).find((p) => p !== undefined);
      if (large) return failed("tooLarge", large);
      const payloads = parts.map((p) => ({ participant: participantName(p.partition.id), payload: encodeTxn(p.part) }));
      const until = Date.now() + o.timeoutMs / 4;
      for (let attempt = 0; ; attempt++) {
        let c: Awaited<ReturnType<TxnCoordinator["commit"]>>;
        try {
          c = await coordinator.commit(payloads);
        } catch (e) {
          if (!(e instanceof TxnError)) throw e;
          await refresh();
          const code = e.failure.code === "invalid" || e.failure.code === "tooLarge" ? e.failure.code : e.failure.code === "timeout" ? "timeout" : "unavailable";
          return failed(code, `a transaction across partitions ${parts.map((p) => p.partition.id).join(", ")}: ${e.failure.message}`);
        }
        if (c.outcome === "committed") return { ok: true, txn: c.txn, succeeded: true };
        if (c.refusals.some((r) => r.reason?.startsWith(REFUSAL.compare))) return { ok: true, txn: c.txn, succeeded: false };
        if (Date.now() >= until) {
          const why = c.refusals.map((r) => `${r.participant ?? "a recoverer"}: ${r.reason ?? "no"}`).join("; ") || "no vote refused";
          return failed("aborted", `transaction ${c.txn} of ${o.space} aborted (${why}): nothing was written; try it again`);
        }
        // A partition's node may have moved (or be down): the next try goes where the map says now.
        if (c.refusals.some((r) => !r.reason?.startsWith(REFUSAL.locked))) await refresh();
        // Another transaction holds a key: let it finish, a little longer each time.
        await new Promise((r) => setTimeout(r, Math.min(50, 2 ** attempt) * (0.5 + Math.random())));
      }
    },
    close: () => remote.close(),
  };
}
