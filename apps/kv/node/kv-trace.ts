/**
 * A KV node's trace, for diagnosing a run after the fact: with WORM_KV_TRACE=1 in its environment,
 * the node writes one JSON line to stderr per write admitted and answered and per participant event
 * (prepare, vote, decision, commit entry, lock release, restart scan) and its claim of the partition
 * (and, for a standby, its promotion); otherwise nothing (undefined).
 * test/e2e/kv.test.ts keeps every node's trace beside the history when its check fails.
 */
export const kvTrace: ((event: Record<string, unknown>) => void) | undefined =
  process.env.WORM_KV_TRACE === "1" ? (event) => process.stderr.write(`${JSON.stringify({ at: Date.now(), ...event })}\n`) : undefined;

/** Whether a line of a node's stderr is one of its trace's (the rest is what it says to its operator). */
export const isKvTraceLine = (line: string): boolean => line.startsWith('{"at":');
