/**
 * Changing the cluster's acceptors (docs/ARCHITECTURE.md §3.5), online: the cluster keeps serving
 * throughout. A change replaces an acceptor (a new id in its slot), adds one (a new last slot) or
 * removes one (its slot goes), each time choosing configuration e+1 from e:
 *
 * 1. **Find** the newest configuration e: every acceptor reports the one it holds; follow the newest.
 * 2. **Choose** e+1 in register e of the chain space, under e: write-once, so two operators cannot
 *    fork the chain. The succession rule (wor/core/configuration.ts `successionProblem`) must accept
 *    it. A run that finds e+1 already chosen as this same change resumes it.
 * 3. **Fence**: tell e+1 to every acceptor of e and e+1. Each adopts it durably, in its turn among
 *    the frames, and from then on refuses sessions of older epochs (clients follow e+1 from the
 *    refusal); one that e+1 leaves out is retired. `copySourcesNeeded(e)` acceptors of e must adopt
 *    it: then no quorum of e can form again.
 * 4. **Copy** to a new acceptor (started with `worm node --join`: it serves only its installer) the
 *    join of the fenced acceptors that stay (state-copier.ts). Meanwhile clients run under e+1 on the
 *    acceptors that stay.
 * 5. **Activate** the new acceptor: it serves everyone.
 *
 * Each step is idempotent: a run cut short is finished by running it again.
 */
import { type Configuration, type Member, added, copySources, copySourcesNeeded, describeConfiguration, removed, replaced, successionProblem } from "../core/configuration.ts";
import { type ChainReach, chainAt, choose, fail, fence, newestConfiguration, preflight } from "./reconfigure-steps.ts";
import { copyAndActivate } from "./state-copier.ts";

export { newestConfiguration } from "./reconfigure-steps.ts";

/** One change of the acceptors. `quorum` defaults to a majority of the new count. */
export type MembershipChange =
  | { readonly kind: "replace"; readonly retired: number; readonly by: Member }
  | { readonly kind: "add"; readonly by: Member; readonly quorum?: number }
  | { readonly kind: "remove"; readonly retired: number; readonly quorum?: number };

export interface ReconfigureRequest extends ChainReach {
  /** The configuration to start from: the cluster file's (epoch 0) or any later one. */
  readonly start: Configuration;
  readonly change: MembershipChange;
  readonly progress?: (line: string) => void;
  /** The copy's pace, addresses per second (state-copier.ts; default: as fast as it goes). */
  readonly copyRate?: number;
}

export interface Reconfigured {
  readonly configuration: Configuration;
  /** Acceptors that adopted it (ids). */
  readonly fenced: readonly number[];
  readonly spaces: number;
  readonly addresses: number;
  readonly ms: number;
}

const has = (c: Configuration, id: number) => c.acceptors.some((m) => m.id === id);

/** Whether `c` is already what `change` makes (a run before chose it, and maybe finished it). */
function made(c: Configuration, change: MembershipChange, start: Configuration): boolean {
  switch (change.kind) {
    case "replace":
      return c.acceptors.some((m) => m.id === change.by.id && m.address === change.by.address) && !has(c, change.retired);
    case "add":
      return c.acceptors.some((m) => m.id === change.by.id && m.address === change.by.address) && c.epoch > 0;
    case "remove":
      return !has(c, change.retired) && has(start, change.retired) && c.epoch > start.epoch;
  }
}

/** The configuration after `c` that `change` makes, or why there is none. */
function derive(c: Configuration, change: MembershipChange): Configuration {
  const d = change.kind === "replace" ? replaced(c, change.retired, change.by) : change.kind === "add" ? added(c, change.by, change.quorum) : removed(c, change.retired, change.quorum);
  const problem = d.ok ? successionProblem(c, d.value) : d.error;
  return problem === undefined && d.ok ? d.value : fail("invalid", problem ?? "no configuration");
}

/** The configuration before `next`: the start if it is, else register next.epoch−2 of the chain
 *  (epoch 0 is in no register: only the cluster file names it). */
async function predecessor(next: Configuration, start: Configuration, r: ChainReach): Promise<Configuration | undefined> {
  if (start.epoch === next.epoch - 1) return start;
  return next.epoch >= 2 ? chainAt(next, next.epoch - 2, r) : undefined;
}

/** Make `r.change`, online; resumes a change cut short. */
export async function reconfigure(r: ReconfigureRequest): Promise<Reconfigured> {
  const t0 = performance.now();
  const say = r.progress ?? (() => {});
  const { configuration: found } = await newestConfiguration(r.start, r);
  const resumed = made(found, r.change, r.start);
  const next = resumed ? found : derive(found, r.change);
  const before = resumed ? await predecessor(found, r.start, r) : found;
  const joiners = "by" in r.change ? [r.change.by] : [];
  const joining = new Map<number, boolean>();
  for (const m of joiners) joining.set(m.id, await preflight(m, next.epoch, r));
  if (!resumed) await choose(found, next, r);
  say(`${resumed ? "resuming" : "chose"} ${describeConfiguration(next)}`);
  const everyone = [...(before?.acceptors ?? []), ...next.acceptors].filter((m, k, all) => all.findIndex((o) => o.id === m.id) === k);
  const told = await fence(everyone, next, r);
  const why = (ids: readonly number[]) => ids.map((id) => `acceptor ${id}: ${told.refused.get(id) ?? "?"}`).join("; ");
  for (const m of joiners) if (!told.fenced.includes(m.id)) fail("unavailable", `the new acceptor ${m.id} at ${m.address} did not take epoch ${next.epoch} (${why([m.id])}); start it with \`worm node --join\` and run this again`);
  const copying = joiners.filter((m) => joining.get(m.id));
  if (before) {
    // The acceptors of e that stay and took e+1: no quorum of e forms again, and the copy comes from them.
    const stayers = next.acceptors.filter((m) => has(before, m.id));
    const sources = copySources(before, next, told.fenced);
    const fencedBefore = before.acceptors.filter((m) => told.fenced.includes(m.id));
    const needed = copySourcesNeeded(before);
    if (fencedBefore.length < needed || (copying.length > 0 && !sources)) {
      const missing = before.acceptors.filter((m) => !told.fenced.includes(m.id)).map((m) => m.id);
      fail("unavailable", `epoch ${next.epoch} reached ${stayers.filter((m) => told.fenced.includes(m.id)).length} of the ${stayers.length} acceptors that stay, and it needs ${needed} of epoch ${before.epoch} (${why(missing)}); run this again once they are up`);
    }
    say(`fenced: acceptors ${told.fenced.join(", ")} hold epoch ${next.epoch}`);
    const { spaces, addresses } = await copyAndActivate(next, sources ?? [], copying, r);
    for (const m of joiners) if (!copying.includes(m)) say(`acceptor ${m.id} serves already: the change was finished before`);
    const gone = before.acceptors.filter((m) => !has(next, m.id));
    for (const m of gone) say(`acceptor ${m.id} ${told.fenced.includes(m.id) ? "is retired: it serves no one again" : "did not answer: told nothing, it is fenced all the same (stop it for good)"}`);
    return { configuration: next, fenced: told.fenced, spaces, addresses, ms: Math.round(performance.now() - t0) };
  }
  // Resumed from a cluster file that already names this configuration: a run before finished it.
  if (copying.length > 0) fail("invalid", `epoch ${next.epoch} is the cluster file's own and acceptor ${copying[0]!.id} is still joining: run this with the cluster file of epoch ${next.epoch - 1}`);
  say(`epoch ${next.epoch} serves already: the change was finished before`);
  return { configuration: next, fenced: told.fenced, spaces: 0, addresses: 0, ms: Math.round(performance.now() - t0) };
}
