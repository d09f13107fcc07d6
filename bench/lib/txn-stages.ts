/**
 * bench/txn.ts `--stages`: where one sequential WormTX commit spends its time, from timestamps
 * taken around the calls the coordinator makes (the code measured is not changed): the owner write
 * of the record, each participant's prepare and the owner write of its vote (told apart by the
 * address written, so the clients may be shared or not). Per commit, in ms:
 *  - `to_round`: commit called → the first write issued (settings, a transaction number, encoding);
 *  - `record_write`, `vote_write`: the owner writes (the slowest vote's);
 *  - `prepare_to_write`, `write_to_answer`: a participant's own work before and after its write;
 *  - `round_to_return`: the round's last answer → the commit returns (decide, notify).
 * `ownerWrites` times the same owner writes without the app (values of a vote's size): one alone,
 * then `writers` at once from as many clients (a coordinator's and its participants' sessions) and
 * from one client (one envelope per acceptor).
 */
import type { WorClient } from "../../wor/node/client.ts";
import type { ParticipantLink } from "../../apps/txn/node/driver.ts";
import { summarize } from "./stats.ts";

type Stage = "to_round" | "record_write" | "vote_write" | "prepare_to_write" | "write_to_answer" | "round_to_return";

interface Marks {
  start: number;
  recordStart?: number;
  recordEnd?: number;
  prepares: { called: number; writeStart?: number; writeEnd?: number; answered?: number }[];
}

const span = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? Number.NaN : b - a);
const maxOf = (xs: number[]): number => xs.reduce((m, x) => Math.max(m, x), Number.NEGATIVE_INFINITY);

export class CommitStages {
  private current: Marks | undefined;
  private readonly samples = new Map<Stage, number[]>();

  /** Time `client`'s owner writes: those into `voteSpace` as the vote of participant index % `segmentSize`, the rest as the record's. */
  watchClient(client: WorClient, voteSpace: string, segmentSize: number): void {
    const write = client.unsafeWrite.bind(client);
    client.unsafeWrite = async (space, index, value) => {
      const m = this.current;
      const participant = space === voteSpace ? index % segmentSize : undefined;
      const p = participant === undefined ? undefined : m?.prepares[participant];
      if (m && participant === undefined) m.recordStart = performance.now();
      if (p) p.writeStart = performance.now();
      try {
        return await write(space, index, value);
      } finally {
        if (m && participant === undefined) m.recordEnd = performance.now();
        if (p) p.writeEnd = performance.now();
      }
    };
  }

  /** `link`, its prepares timed; participant `i` of each transaction is `names[i]`. */
  watchLink(link: ParticipantLink, names: readonly string[]): ParticipantLink {
    return {
      prepare: async (participant, request) => {
        const p = { called: performance.now() } as Marks["prepares"][number];
        const i = names.indexOf(participant);
        if (this.current && i >= 0) this.current.prepares[i] = p;
        try {
          return await link.prepare(participant, request);
        } finally {
          p.answered = performance.now();
        }
      },
      notify: (participant, space, txn, outcome) => link.notify(participant, space, txn, outcome),
    };
  }

  /** Run one commit with its stages recorded. */
  async time<T>(commit: () => Promise<T>): Promise<T> {
    const m: Marks = { start: performance.now(), prepares: [] };
    this.current = m;
    const r = await commit();
    const end = performance.now();
    this.current = undefined;
    const ps = m.prepares;
    const firstWrite = Math.min(m.recordStart ?? Number.POSITIVE_INFINITY, ...ps.map((p) => p.writeStart ?? Number.POSITIVE_INFINITY));
    const lastAnswer = maxOf([m.recordEnd ?? Number.NaN, ...ps.map((p) => p.answered ?? Number.NaN)]);
    this.add("to_round", firstWrite - m.start);
    this.add("record_write", span(m.recordStart, m.recordEnd));
    this.add("vote_write", maxOf(ps.map((p) => span(p.writeStart, p.writeEnd))));
    this.add("prepare_to_write", maxOf(ps.map((p) => span(p.called, p.writeStart))));
    this.add("write_to_answer", maxOf(ps.map((p) => span(p.writeEnd, p.answered))));
    this.add("round_to_return", end - lastAnswer);
    return r;
  }

  /** The p50 (and p90) of each stage, in ms. */
  summary(): Record<string, { p50_ms: number; p90_ms: number }> {
    return Object.fromEntries([...this.samples].map(([s, xs]) => [s, (({ p50_ms, p90_ms }) => ({ p50_ms, p90_ms }))(summarize(xs))]));
  }

  private add(stage: Stage, ms: number): void {
    if (!Number.isFinite(ms)) return;
    const xs = this.samples.get(stage) ?? [];
    xs.push(ms);
    this.samples.set(stage, xs);
  }
}

/** Owner writes of `valueBytes` alone, `writers` at once from as many clients, and from one: each `count` times, p50 ms. */
export async function ownerWrites(clients: readonly WorClient[], space: string, count: number, valueBytes: number): Promise<Record<string, number>> {
  let index = 0;
  const value = new Uint8Array(valueBytes);
  const p50 = async (op: () => Promise<unknown>): Promise<number> => {
    const lat: number[] = [];
    for (let k = 0; k < count; k++) {
      const s = performance.now();
      await op();
      lat.push(performance.now() - s);
    }
    return summarize(lat).p50_ms;
  };
  const one = clients[0]!;
  return {
    alone_p50_ms: await p50(() => one.unsafeWrite(space, index++, value)),
    separate_clients_p50_ms: await p50(() => Promise.all(clients.map((c) => c.unsafeWrite(space, index++, value)))),
    one_client_p50_ms: await p50(() => Promise.all(clients.map(() => one.unsafeWrite(space, index++, value)))),
  };
}
