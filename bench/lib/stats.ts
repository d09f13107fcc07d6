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
