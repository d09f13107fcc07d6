/**
 * "Did you mean --cluster?": the flags a misspelt one may have meant, as git, kubectl and etcdctl
 * suggest them. Only on the error path (run.ts, leading-flags.ts): a correct invocation never
 * computes one.
 */

/** At most this many edits (insert, delete, replace, swap two neighbours) from a flag to suggest it. */
const suggestEditsMax = 2;
/** A flag given with at least this many letters suggests every flag it begins (`--clu` → `--cluster`). */
const suggestPrefixMin = 2;

/**
 * The edits from `a` to `b`: insertions, deletions, replacements and swaps of two neighbouring
 * characters (Damerau–Levenshtein, optimal string alignment: `clsuter` is one edit from `cluster`).
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: the edits from a's first i characters to b's first j.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

const bare = (flag: string) => flag.replace(/^-+/, "").toLowerCase();

/**
 * How far `given` is from `flag` (both as typed, dashes and all), or undefined when too far to
 * suggest: within `suggestEditsMax` edits and fewer edits than the shorter name has letters (`-x`
 * is not a misspelt `-v`), or `given` begins `flag` (counted as one edit).
 */
function closeness(given: string, flag: string): number | undefined {
  const g = bare(given);
  const f = bare(flag);
  const edits = editDistance(g, f);
  const prefix = g.length >= suggestPrefixMin && f.startsWith(g) ? 1 : undefined;
  const near = edits <= suggestEditsMax && edits < Math.min(g.length, f.length) ? edits : undefined;
  return near === undefined ? prefix : prefix === undefined ? near : Math.min(near, prefix);
}

/** The flags of `flags` closest to `given` (all of them when several are as close), in their order; none when none is close. */
export function suggestFlags(given: string, flags: readonly string[]): string[] {
  let best = Number.POSITIVE_INFINITY;
  let closest: string[] = [];
  for (const flag of new Set(flags)) {
    const c = closeness(given, flag);
    if (c === undefined || c > best) continue;
    if (c < best) closest = [];
    best = c;
    closest.push(flag);
  }
  return closest;
}
