/**
 * CPU time spent by the processes of a benchmark, so a JSON line can say where the machine's cores
 * went (CPU microseconds per operation, per role). Other processes' time is read from Linux's
 * /proc/<pid>/stat (user + system, in clock ticks: 10 ms each at the usual 100 Hz, so a few seconds
 * of load gives a few per cent of resolution); this process's from `process.cpuUsage()`.
 */
import { readFile } from "node:fs/promises";

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`; 100 on every Linux we run on). */
const TICKS_PER_S = 100;

/** CPU milliseconds (user + system) process `pid` has used so far; `"self"` is this process. */
export async function cpuMs(pid: number | "self"): Promise<number> {
  if (pid === "self") {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start past its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

/** Readings of named processes at the start of a measurement; `since` gives each one's µs per op. */
export class CpuMeter {
  private constructor(
    private readonly pids: ReadonlyMap<string, number | "self">,
    private readonly start: ReadonlyMap<string, number>,
  ) {}

  static async start(pids: ReadonlyMap<string, number | "self">): Promise<CpuMeter> {
    return new CpuMeter(pids, await readAll(pids));
  }

  /** Per process: CPU µs per op since the start; `total`: their sum (at R ops/s, R × total µs of CPU a second). */
  async perOp(ops: number): Promise<Record<string, number>> {
    const now = await readAll(this.pids);
    const out: Record<string, number> = {};
    let total = 0;
    for (const [name, t] of now) {
      const ms = t - this.start.get(name)!;
      total += ms;
      out[name] = Math.round((ms * 1000) / ops);
    }
    out.total = Math.round((total * 1000) / ops);
    return out;
  }
}

async function readAll(pids: ReadonlyMap<string, number | "self">): Promise<Map<string, number>> {
  return new Map(await Promise.all([...pids].map(async ([name, pid]) => [name, await cpuMs(pid)] as const)));
}
