/**
 * `buggify(site)`: make rare paths likely, in simulation only (FoundationDB's BUGGIFY). Outside a
 * simulation it is always false, so production code pays one branch. Inside one, each site is
 * enabled or not for the whole run, decided from the run's seed and the site name; an enabled site
 * fires with `fireProbability`, drawn from the simulation's PRNG (so runs stay reproducible).
 */
import { assert } from "./assert.ts";
import { type Prng, hashString32 } from "./prng.ts";

interface Simulation {
  readonly seed: number;
  readonly prng: Prng;
  readonly enabled: Map<string, boolean>;
  readonly fireProbability: number;
  readonly fired: Map<string, number>;
}

let current: Simulation | undefined;

export interface BuggifyOptions {
  /** Chance that an enabled site fires each time it is evaluated. */
  readonly fireProbability?: number;
  /** Chance that a site is enabled for the run. */
  readonly enableProbability?: number;
}

let enableProbability = 0.5;

/** Run `fn` as a simulation: buggify sites become live for its duration. Not reentrant. */
export function withSimulation<T>(seed: number, prng: Prng, fn: () => T, options: BuggifyOptions = {}): T {
  assert(current === undefined, "simulations do not nest");
  enableProbability = options.enableProbability ?? 0.5;
  current = { seed, prng, enabled: new Map(), fireProbability: options.fireProbability ?? 0.25, fired: new Map() };
  try {
    return fn();
  } finally {
    current = undefined;
  }
}

export function inSimulation(): boolean {
  return current !== undefined;
}

export function buggify(site: string): boolean {
  const sim = current;
  if (!sim) return false;
  let on = sim.enabled.get(site);
  if (on === undefined) {
    on = hashString32(site, hashString32(String(sim.seed))) / 0x1_0000_0000 < enableProbability;
    sim.enabled.set(site, on);
  }
  if (!on || !sim.prng.chance(sim.fireProbability)) return false;
  sim.fired.set(site, (sim.fired.get(site) ?? 0) + 1);
  return true;
}

/** Sites that fired in the current simulation, with counts. */
export function buggifyFired(): ReadonlyMap<string, number> {
  return new Map(current?.fired ?? []);
}
