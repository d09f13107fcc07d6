/**
 * Replay one simulation seed with its full event log: `node --import tsx verify/sim/main.ts --seed N`
 * (`--layer log` for the shared-log simulation)
 * (add `--log` to print every event). CLI-facing: prints; the cores stay silent.
 */
import { runLogSeed } from "./log-run.ts";
import { runSeed } from "./run.ts";

const args = process.argv.slice(2);
const at = args.indexOf("--seed");
const seed = at >= 0 ? Number(args[at + 1]) : Number.NaN;
if (!Number.isSafeInteger(seed) || seed < 0) {
  console.error("usage: node --import tsx verify/sim/main.ts [--layer log] --seed N [--log]");
  process.exitCode = 2;
} else {
  replay(seed);
}

function replay(seed: number): void {
  const layer = args.indexOf("--layer");
  const r = layer >= 0 && args[layer + 1] === "log" ? runLogSeed(seed, { keepLog: true }) : runSeed(seed, { keepLog: true });
  if (args.includes("--log")) for (const line of r.log) console.log(line);
  console.log(`seed ${seed}: ${r.ok ? "ok" : "FAILED"}; ${r.events} events, ${r.operations} operations, ${r.virtualMs} virtual ms, trace ${r.traceHash.toString(16)}`);
  for (const v of r.violations) console.log(v);
  process.exitCode = r.ok ? 0 : 1;
}
