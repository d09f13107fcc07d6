/** Latency summaries for benchmark JSON lines. */
export interface Summary {
  readonly n: number;
  readonly p50_ms: number;
  readonly p90_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
}

export function summarize(latenciesMs: number[]): Summary {
  const s = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number) => round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN);
  return { n: s.length, p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: round(s[s.length - 1] ?? Number.NaN) };
}

export const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Print one measurement as a JSON line. */
export function emit(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ system: "wormspace-ts", ...record })}\n`);
}

/** Run `op(i)` for i in [0, n) with `concurrency` in flight; return the latencies and elapsed seconds. */
export async function closedLoop(n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<{ lat: number[]; secs: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = performance.now();
        await op(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { lat, secs: (performance.now() - t0) / 1000 };
}
