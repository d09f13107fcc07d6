/**
 * Replay one simulation seed with its full event log:
 * `node --import tsx verify/sim/main.ts --seed N [--layer wor|log] [--log]` (`--log` prints every
 * event). CLI-facing: prints; the kernel and the worlds stay silent.
 */
import { SIM_LAYERS } from "./layers.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const seed = Number(flag("--seed"));
const layer = flag("--layer") ?? "wor";
const world = SIM_LAYERS[layer];
if (!Number.isSafeInteger(seed) || seed < 0 || !world) {
  console.error(`usage: node --import tsx verify/sim/main.ts --seed N [--layer ${Object.keys(SIM_LAYERS).join("|")}] [--log]`);
  process.exitCode = 2;
} else {
  const r = world.runSeed(seed, { keepLog: true });
  if (args.includes("--log")) for (const line of r.log) console.log(line);
  console.log(`seed ${seed} (${layer}): ${r.ok ? "ok" : "FAILED"}; ${r.events} events, ${r.operations} operations, ${r.virtualMs} virtual ms, trace ${r.traceHash.toString(16)}`);
  for (const v of r.violations) console.log(v);
  process.exitCode = r.ok ? 0 : 1;
}
