/**
 * Running a world: one seed inside a simulation context (buggify live, seeded from the seed), or a
 * range of seeds summed up, for the CLI (`worm check sim`) and the tests. Pure apart from the
 * optional clock; progress goes to a callback.
 */
import { buggifyFired, withSimulation } from "../../runtime/buggify.ts";
import { Prng } from "../../runtime/prng.ts";
import { probeCounts, resetProbes } from "../../runtime/probe.ts";
import { Kernel } from "./kernel.ts";
import type { KernelOptions, RunResult } from "./options.ts";
import type { WorldDef } from "./world.ts";

type SeedResult = RunResult & { readonly buggify: ReadonlyMap<string, number> };

/** A world's options without the seed, any of them overridden. */
type WorldOverrides<O extends KernelOptions> = Partial<Omit<O, "seed">>;

export interface SimulationOptions<O extends KernelOptions> {
  /** Seeds to run, inclusive. */
  readonly seeds: { readonly from: number; readonly to: number };
  /** Options over the world's defaults. */
  readonly world?: WorldOverrides<O>;
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
  readonly layer: string;
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

/** The command that replays one seed of `layer`. */
const replayCommand = (layer: string, seed: number): string =>
  `npm run worm -- check sim --layer ${layer} --seeds ${seed}..${seed}   (or: node --import tsx verify/sim/main.ts --layer ${layer} --seed ${seed})`;

/** Run one seed of `def`'s world. */
export function runSeed<O extends KernelOptions>(def: WorldDef<O>, seed: number, options: WorldOverrides<O> = {}): SeedResult {
  const buggifyPrng = new Prng((seed ^ def.buggifySalt) >>> 0);
  return withSimulation(seed, buggifyPrng, () => {
    const o = { ...def.defaults, ...options, seed } as O;
    const kernel = new Kernel(o, def.setup(o));
    return { ...kernel.run(def.create(kernel, o)), buggify: buggifyFired() };
  });
}

/** Run a range of seeds of `def`'s world and sum up. */
export function simulate<O extends KernelOptions>(def: WorldDef<O>, options: SimulationOptions<O>, onProgress?: (p: SimulationProgress) => void): SimulationSummary {
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
    const r = runSeed(def, seed, options.world);
    done++;
    events += r.events;
    operations += r.operations;
    virtualMs += r.virtualMs;
    for (const [k, v] of Object.entries(r.completed)) outcomes[k] = (outcomes[k] ?? 0) + v;
    for (const [k, v] of r.buggify) buggify[k] = (buggify[k] ?? 0) + v;
    if (!r.ok) failures.push({ seed, violations: r.violations, replay: replayCommand(def.layer, seed) });
    onProgress?.({ done, total, failed: failures.length, ms: now() - t0 });
    if (!r.ok && stopOnFailure) break;
  }
  return {
    layer: def.layer,
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

/** A world with its option type erased: what the CLI and a replay need of a layer. */
export interface SimLayer {
  readonly layer: string;
  readonly title: string;
  runSeed(seed: number, options?: WorldOverrides<KernelOptions>): SeedResult;
  simulate(options: SimulationOptions<KernelOptions>, onProgress?: (p: SimulationProgress) => void): SimulationSummary;
}

export function simLayer<O extends KernelOptions>(def: WorldDef<O>): SimLayer {
  // The kernel's options are a part of every world's: overriding only them is always sound.
  return {
    layer: def.layer,
    title: def.title,
    runSeed: (seed, options) => runSeed(def, seed, options as WorldOverrides<O>),
    simulate: (options, onProgress) => simulate(def, options as SimulationOptions<O>, onProgress),
  };
}
