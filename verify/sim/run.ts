/**
 * `runSimulation`: many seeds of the register-layer simulation, for the CLI (`worm check sim`) and
 * the tests. Pure apart from the optional clock; progress goes to a callback.
 */
import { buggifyFired, withSimulation } from "../runtime/buggify.ts";
import { Prng } from "../runtime/prng.ts";
import { probeCounts, resetProbes } from "../runtime/probe.ts";
import { ALL_FAULTS, type Faults, type RunResult, WORLD_DEFAULTS, type WorldOptions } from "./options.ts";
import { runWorld } from "./world.ts";

export interface SimulationOptions extends Partial<Omit<WorldOptions, "seed">> {
  /** Seeds to run, inclusive. */
  readonly seeds: { readonly from: number; readonly to: number };
  readonly faults?: Faults;
  /** Stop at the first failing seed (default true). */
  readonly stopOnFailure?: boolean;
  readonly now?: () => number;
}

export interface SimulationProgress {
  readonly done: number;
  readonly total: number;
  readonly failed: number;
  readonly ms: number;
}

export interface SimulationSummary {
  readonly seeds: number;
  readonly passed: number;
  readonly failures: readonly { readonly seed: number; readonly violations: readonly string[]; readonly replay: string }[];
  readonly events: number;
  readonly operations: number;
  readonly virtualMs: number;
  readonly ms: number;
  /** Rare paths reached, with counts, over all seeds. */
  readonly probes: Readonly<Record<string, number>>;
  /** Buggify sites that fired, with counts, over all seeds. */
  readonly buggify: Readonly<Record<string, number>>;
  /** Operation outcomes over all seeds ("write:Ok", "read:failed:timeout", ...). */
  readonly outcomes: Readonly<Record<string, number>>;
}

/** The command that replays one seed. */
export const replayCommand = (seed: number): string => `npm run worm -- check sim --seeds ${seed}..${seed}   (or: node --import tsx verify/sim/main.ts --seed ${seed})`;

/** Run one seed inside a simulation context (buggify live, seeded from the run's seed). */
export function runSeed(seed: number, options: Partial<Omit<WorldOptions, "seed">> = {}): RunResult & { readonly buggify: ReadonlyMap<string, number> } {
  const buggifyPrng = new Prng((seed ^ 0x5bd1e995) >>> 0);
  return withSimulation(seed, buggifyPrng, () => ({ ...runWorld({ ...options, seed }), buggify: buggifyFired() }));
}

export function runSimulation(options: SimulationOptions, onProgress?: (p: SimulationProgress) => void): SimulationSummary {
  const { seeds, stopOnFailure, now, ...world } = options;
  return runSeeds({ seeds, stopOnFailure, now }, (seed) => runSeed(seed, { ...WORLD_DEFAULTS, faults: ALL_FAULTS, ...world }), replayCommand, onProgress);
}

export interface SeedsOptions {
  readonly seeds: { readonly from: number; readonly to: number };
  readonly stopOnFailure?: boolean | undefined;
  readonly now?: (() => number) | undefined;
}

/** Run `runOne` over a range of seeds and sum up (shared by the register and the log simulators). */
export function runSeeds(
  options: SeedsOptions,
  runOne: (seed: number) => RunResult & { readonly buggify: ReadonlyMap<string, number> },
  replay: (seed: number) => string,
  onProgress?: (p: SimulationProgress) => void,
): SimulationSummary {
  const now = options.now ?? (() => 0);
  const t0 = now();
  const { seeds, stopOnFailure = true } = options;
  const total = seeds.to - seeds.from + 1;
  const failures: { seed: number; violations: readonly string[]; replay: string }[] = [];
  const outcomes: Record<string, number> = {};
  const buggify: Record<string, number> = {};
  let events = 0;
  let operations = 0;
  let virtualMs = 0;
  let done = 0;
  resetProbes();
  for (let seed = seeds.from; seed <= seeds.to; seed++) {
    const r = runOne(seed);
    done++;
    events += r.events;
    operations += r.operations;
    virtualMs += r.virtualMs;
    for (const [k, v] of Object.entries(r.completed)) outcomes[k] = (outcomes[k] ?? 0) + v;
    for (const [k, v] of r.buggify) buggify[k] = (buggify[k] ?? 0) + v;
    if (!r.ok) failures.push({ seed, violations: r.violations, replay: replay(seed) });
    onProgress?.({ done, total, failed: failures.length, ms: now() - t0 });
    if (!r.ok && stopOnFailure) break;
  }
  return {
    seeds: done,
    passed: done - failures.length,
    failures,
    events,
    operations,
    virtualMs,
    ms: now() - t0,
    probes: Object.fromEntries(probeCounts()),
    buggify,
    outcomes: Object.fromEntries(Object.entries(outcomes).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}
