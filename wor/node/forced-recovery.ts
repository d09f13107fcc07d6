/** The forced recovery of a lost majority (`recoverLostMajority`): the one reconfiguration that
 *  breaks the succession rule (wor/core/configuration.ts). */
import { type Configuration, type Member, describeConfiguration, replaced } from "../core/configuration.ts";
import type { Reconfigured } from "./reconfigure.ts";
import { type ChainReach, choose, fail, fence, newestReported, preflight, statuses } from "./reconfigure-steps.ts";
import { copyAndActivate } from "./state-copier.ts";

export interface RecoverRequest extends ChainReach {
  /** The configuration to start from: the cluster file's or any later one. */
  readonly start: Configuration;
  readonly progress?: (line: string) => void;
  /** The copy's pace, addresses per second (state-copier.ts; default: as fast as it goes). */
  readonly copyRate?: number;
  /** The acceptors lost for good (their disks gone: they must never serve again). */
  readonly lost: readonly number[];
  /** The new acceptors, running `worm node --join`, that take their slots, in the same order. */
  readonly by: readonly Member[];
}

/**
 * Forced recovery (docs/ARCHITECTURE.md §3.5) of a configuration that lost its majority for good:
 * new acceptors take the lost ones' slots, copied from the survivors alone, and the chain's register
 * is written afterwards, under the new configuration (the old one has no quorum to choose it). Not
 * safe, and refused by the CLI unless asked for by name: a value chosen only by lost acceptors is
 * gone (its address may be written again), a value only a survivor accepted may become chosen, and
 * a "lost" acceptor that comes back with its data could still form a quorum of the old configuration
 * with another one. For a configuration that still has a quorum, `reconfigure` (reconfigure.ts) is the way.
 */
export async function recoverLostMajority(r: RecoverRequest): Promise<Reconfigured> {
  const t0 = performance.now();
  const say = r.progress ?? (() => {});
  // The chain needs a quorum to read: the newest configuration a survivor holds is the start.
  const current = newestReported(await statuses(r.start.acceptors, r), r.start) ?? r.start;
  const survivors = current.acceptors.filter((m) => !r.lost.includes(m.id));
  if (survivors.length >= current.quorum) fail("invalid", `epoch ${current.epoch} keeps ${survivors.length} acceptors, a quorum: replace the lost ones one at a time with \`worm cluster replace\`, which loses nothing`);
  const n = replaced(current, r.lost, r.by);
  if (!n.ok) return fail("invalid", n.error);
  const next = n.value;
  for (const m of r.by) await preflight(m, next.epoch, r);
  say(`forcing ${describeConfiguration(next)} from ${survivors.map((m) => m.id).join(", ")} alone`);
  const told = await fence([...survivors, ...r.by], next, r);
  const missing = [...survivors, ...r.by].filter((m) => !told.fenced.includes(m.id));
  if (missing.length > 0) fail("unavailable", `epoch ${next.epoch} did not reach ${missing.map((m) => `acceptor ${m.id} (${told.refused.get(m.id) ?? "?"})`).join(", ")}: every survivor and every new acceptor must take it`);
  const { spaces, addresses } = await copyAndActivate(next, survivors, r.by, r);
  try {
    await choose(next, next, r);
  } catch (e) {
    say(`the chain's register ${next.epoch - 1} was not written (${(e as Error).message}); the acceptors hold epoch ${next.epoch} all the same`);
  }
  return { configuration: next, fenced: told.fenced, spaces, addresses, ms: Math.round(performance.now() - t0) };
}
