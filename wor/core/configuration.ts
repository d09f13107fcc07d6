/**
 * A configuration (docs/ARCHITECTURE.md §3.5): which acceptors serve the cluster, slot by slot, and
 * under which epoch. Epoch 0 is the cluster file's; configuration e+1 is chosen in register e of the
 * chain space (`CONFIGURATION_SPACE`) while configuration e serves, so two operators can never fork
 * the chain. A replacement keeps the slots and the quorum and puts a new acceptor id in one slot; an
 * addition appends a slot, a removal drops one, each with a quorum the succession rule
 * (`successionProblem`) accepts.
 *
 * Pure: the node and the reconfigurer (wor/node/reconfigure.ts) encode, check and derive
 * configurations with these functions; nothing here reads a clock or the network.
 */
import { isValidQuorum, majority } from "../../paxos/quorum.ts";
import { bytesEqual } from "../../verify/runtime/bytes.ts";
import { planted } from "../../verify/runtime/planted.ts";
import type { WorFailure } from "./results.ts";
import { firstWins } from "./first-wins.ts";
import type { RegGen } from "./steps.ts";

/** The space of kind `configurations` holding the chain: register e holds configuration e+1. */
export const CONFIGURATION_SPACE = "worm.configurations";

export interface Member {
  readonly id: number;
  /** "host:port". */
  readonly address: string;
}

export interface Configuration {
  readonly epoch: number;
  readonly quorum: number;
  /** One per slot, in slot order (the client's acceptor index). */
  readonly acceptors: readonly Member[];
}

const ID_MAX = 2 ** 31 - 1;

/** What is wrong with `c`, or undefined. */
export function configurationProblem(c: Configuration): string | undefined {
  if (!Number.isSafeInteger(c.epoch) || c.epoch < 0) return `epoch must be a non-negative integer (got ${c.epoch})`;
  if (c.acceptors.length === 0) return "a configuration needs acceptors";
  const ids = new Set<number>();
  const addresses = new Set<string>();
  for (const m of c.acceptors) {
    if (!Number.isSafeInteger(m.id) || m.id < 0 || m.id > ID_MAX) return `acceptor id ${m.id} is not an integer from 0 to ${ID_MAX}`;
    if (ids.has(m.id)) return `acceptor id ${m.id} appears twice`;
    if (typeof m.address !== "string" || m.address.length === 0) return `acceptor ${m.id} has no address`;
    if (addresses.has(m.address)) return `address ${m.address} appears twice`;
    ids.add(m.id);
    addresses.add(m.address);
  }
  if (!isValidQuorum(c.quorum, c.acceptors.length)) return `quorum ${c.quorum} of ${c.acceptors.length} acceptors is not a safe quorum`;
  return undefined;
}

const text = new TextEncoder();
const untext = new TextDecoder("utf-8", { fatal: true });

/** The bytes of `c` (JSON), as the chain register and the acceptors hold them. */
export function encodeConfiguration(c: Configuration): Uint8Array {
  return text.encode(JSON.stringify({ epoch: c.epoch, quorum: c.quorum, acceptors: c.acceptors.map((m) => ({ id: m.id, address: m.address })) }));
}

/** `bytes` as a configuration, or what is wrong with them. */
export function decodeConfiguration(bytes: Uint8Array): { readonly ok: true; readonly value: Configuration } | { readonly ok: false; readonly error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(untext.decode(bytes));
  } catch (e) {
    return { ok: false, error: `not a configuration: ${(e as Error).message}` };
  }
  const r = raw as { epoch?: unknown; quorum?: unknown; acceptors?: unknown };
  if (typeof raw !== "object" || raw === null || typeof r.epoch !== "number" || typeof r.quorum !== "number" || !Array.isArray(r.acceptors)) {
    return { ok: false, error: "not a configuration: it needs epoch, quorum and acceptors" };
  }
  const acceptors: Member[] = [];
  for (const m of r.acceptors as unknown[]) {
    const x = m as { id?: unknown; address?: unknown };
    if (typeof m !== "object" || m === null || typeof x.id !== "number" || typeof x.address !== "string") return { ok: false, error: "not a configuration: an acceptor needs id and address" };
    acceptors.push({ id: x.id, address: x.address });
  }
  const value: Configuration = { epoch: r.epoch, quorum: r.quorum, acceptors };
  const problem = configurationProblem(value);
  return problem ? { ok: false, error: `not a configuration: ${problem}` } : { ok: true, value };
}

/** "epoch 1: 1@10.0.0.1:7100, 2@10.0.0.2:7100, 4@10.0.0.4:7100, quorum 2". */
export const describeConfiguration = (c: Configuration): string => `epoch ${c.epoch}: ${c.acceptors.map((m) => `${m.id}@${m.address}`).join(", ")}, quorum ${c.quorum}`;

/** Whether two configurations are the same (epoch, quorum, and every slot). */
export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  return a.epoch === b.epoch && a.quorum === b.quorum && a.acceptors.length === b.acceptors.length && a.acceptors.every((m, k) => m.id === b.acceptors[k]!.id && m.address === b.acceptors[k]!.address);
}

/** A configuration derived from another, or why it cannot be. */
type Derived = { readonly ok: true; readonly value: Configuration } | { readonly ok: false; readonly error: string };

/**
 * Configuration e+1 of `c` with each acceptor of `retired` replaced by the new one at the same
 * position of `by`, in its slot, or why it cannot be: a retired id must serve in `c`, and a new id
 * and address must be new to it (an id is never reused: a directory of a retired id must never
 * serve again).
 */
export function replaced(c: Configuration, retired: number | readonly number[], by: Member | readonly Member[]): Derived {
  const olds = typeof retired === "number" ? [retired] : retired;
  const news = Array.isArray(by) ? (by as readonly Member[]) : [by as Member];
  if (olds.length !== news.length || olds.length === 0) return { ok: false, error: `${olds.length} acceptors to replace and ${news.length} replacements` };
  const acceptors = [...c.acceptors];
  for (const [k, old] of olds.entries()) {
    const n = news[k]!;
    const slot = c.acceptors.findIndex((m) => m.id === old);
    if (slot < 0) return { ok: false, error: `acceptor ${old} does not serve in epoch ${c.epoch} (its acceptors: ${c.acceptors.map((m) => m.id).join(", ")})` };
    if (c.acceptors.some((m) => m.id === n.id)) return { ok: false, error: `acceptor id ${n.id} already serves in epoch ${c.epoch}: the replacement needs a new id` };
    const other = c.acceptors.find((m, j) => j !== slot && m.address === n.address);
    if (other) return { ok: false, error: `${n.address} is the address of acceptor ${other.id}` };
    acceptors[slot] = { id: n.id, address: n.address };
  }
  const value: Configuration = { epoch: c.epoch + 1, quorum: c.quorum, acceptors };
  const problem = configurationProblem(value);
  return problem ? { ok: false, error: problem } : { ok: true, value };
}

/** `next` if the succession rule accepts it after `c`, else why not. */
const succeeding = (c: Configuration, next: Configuration): Derived => {
  const problem = configurationProblem(next) ?? successionProblem(c, next);
  return problem ? { ok: false, error: problem } : { ok: true, value: next };
};

/**
 * Configuration e+1 of `c` with the new acceptor `by` in a new last slot, under `quorum` (default:
 * a majority of the new count). Its id and address must be new to `c`.
 */
export function added(c: Configuration, by: Member, quorum?: number): Derived {
  if (c.acceptors.some((m) => m.id === by.id)) return { ok: false, error: `acceptor id ${by.id} already serves in epoch ${c.epoch}: a new acceptor needs a new id` };
  const other = c.acceptors.find((m) => m.address === by.address);
  if (other) return { ok: false, error: `${by.address} is the address of acceptor ${other.id}` };
  const acceptors = [...c.acceptors, { id: by.id, address: by.address }];
  return succeeding(c, { epoch: c.epoch + 1, quorum: quorum ?? majority(acceptors.length), acceptors });
}

/** Configuration e+1 of `c` without acceptor `retired` (the later slots move up one), under `quorum`
 *  (default: a majority of the new count). */
export function removed(c: Configuration, retired: number, quorum?: number): Derived {
  if (!c.acceptors.some((m) => m.id === retired)) return { ok: false, error: `acceptor ${retired} does not serve in epoch ${c.epoch} (its acceptors: ${c.acceptors.map((m) => m.id).join(", ")})` };
  const acceptors = c.acceptors.filter((m) => m.id !== retired);
  if (acceptors.length === 0) return { ok: false, error: `acceptor ${retired} is the last one of epoch ${c.epoch}: a cluster needs an acceptor` };
  return succeeding(c, { epoch: c.epoch + 1, quorum: quorum ?? majority(acceptors.length), acceptors });
}

/**
 * How many acceptors of `c` must be fenced, and the state copied to new acceptors must come from:
 * every quorum of `c` must share one with them. Then no quorum of `c` forms after the fence, and no
 * value a quorum of `c` chose is missing from the copy (else a quorum of the next configuration
 * holding a new acceptor could choose a second value).
 */
export const copySourcesNeeded = (c: Configuration): number => c.acceptors.length - c.quorum + 1;

/**
 * The acceptors the copy to `next`'s newcomers reads: `copySourcesNeeded(before)` of those of
 * `before` that stay in `next` and adopted it (`fenced`: their state no longer changes under
 * `before`), or undefined while they are fewer. Joined, their state holds every value a quorum of
 * `before` chose; reading more would only cost more.
 */
export function copySources(before: Configuration, next: Configuration, fenced: readonly number[]): Member[] | undefined {
  const sources = next.acceptors.filter((m) => fenced.includes(m.id) && before.acceptors.some((o) => o.id === m.id));
  const needed = copySourcesNeeded(before);
  if (sources.length < needed) return undefined;
  return sources.slice(0, planted("copyFromOneSource") ? 1 : needed);
}

/** The acceptors of `next` that `c` does not have: they join by the copy. */
const newcomers = (c: Configuration, next: Configuration): Member[] => next.acceptors.filter((m) => !c.acceptors.some((o) => o.id === m.id));

/**
 * Why `next` cannot follow `c` by the fence and the copy (docs/ARCHITECTURE.md §3.5), or undefined.
 * During the change clients of both may run, and the acceptors that both share serve both, while
 * the newcomers serve no one until their copy is installed. So a quorum of `next` made of shared
 * acceptors alone must meet every quorum of `c`: next.quorum + c.quorum > |c| whenever the shared
 * acceptors can make one. (A quorum of `next` holding a newcomer meets every quorum of `c` through
 * the copy, which holds a member of each.) And the newcomers' copy needs `copySourcesNeeded(c)`
 * acceptors of `c` that stay.
 */
export function successionProblem(c: Configuration, next: Configuration): string | undefined {
  if (next.epoch !== c.epoch + 1) return `epoch ${next.epoch} cannot follow epoch ${c.epoch}`;
  const shared = next.acceptors.filter((m) => c.acceptors.some((o) => o.id === m.id && o.address === m.address));
  const moved = next.acceptors.find((m) => c.acceptors.some((o) => o.id === m.id && o.address !== m.address));
  if (moved) return `acceptor ${moved.id} cannot change its address: replace it by a new id`;
  if (shared.length >= next.quorum && next.quorum + c.quorum <= c.acceptors.length) {
    return `quorum ${next.quorum} of ${next.acceptors.length} is too small after quorum ${c.quorum} of ${c.acceptors.length}: ${next.quorum} of the acceptors that stay need not share one with a quorum of epoch ${c.epoch} (it needs at least ${c.acceptors.length - c.quorum + 1})`;
  }
  if (newcomers(c, next).length > 0 && shared.length < copySourcesNeeded(c)) {
    return `${shared.length} acceptors stay, and the new ones' state must be copied from ${copySourcesNeeded(c)} of epoch ${c.epoch}: change fewer at a time`;
  }
  return undefined;
}

/** What choosing configuration e+1 in register e of the chain came to. */
export type ChainResult =
  | { readonly kind: "chosen" }
  /** Another configuration was chosen there first (its bytes). */
  | { readonly kind: "other"; readonly value: Uint8Array }
  /** Neither chosen nor refused: preempted, trimmed; choose again. */
  | { readonly kind: "unsettled"; readonly why: string }
  | { readonly kind: "failed"; readonly failure: WorFailure };

/**
 * Choose `next` in register next.epoch − 1 of the chain (the space must exist), under whatever
 * configuration the driver's client runs: a capture, then the write of its bytes unless the capture
 * found a value already. The reconfigurer (wor/node/reconfigure.ts) and the simulator's run it.
 */
export function* chooseConfiguration(next: Configuration): RegGen<ChainResult> {
  const bytes = encodeConfiguration(next);
  const r = yield* firstWins(CONFIGURATION_SPACE, next.epoch - 1, bytes);
  if (r.kind === "won") return { kind: "chosen" };
  if (r.kind === "found") return bytesEqual(r.value, bytes) ? { kind: "chosen" } : { kind: "other", value: r.value };
  return r;
}
