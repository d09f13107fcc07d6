/**
 * `probe(name)`: record that a rare path was reached. Simulations and tests read the counts to show
 * which rare paths their seeds exercised (coverage of the interesting cases, not of lines).
 */
const counts = new Map<string, number>();

export function probe(name: string): void {
  counts.set(name, (counts.get(name) ?? 0) + 1);
}

/** Counts since the last reset, sorted by name. */
export function probeCounts(): ReadonlyMap<string, number> {
  return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function resetProbes(): void {
  counts.clear();
}
