/**
 * Flags that every client command takes (cluster.ts `connectionFlags`: which cluster, how to reach
 * it) may also come before the verb, as etcdctl and kubectl allow (`worm --cluster F space list`):
 * the command tree only knows them after the verb, so they are moved there. Kept out of cluster.ts
 * so that `worm` starts without loading the flag definitions. A misspelt one (`--clustr`) is moved
 * too, as the flag it is closest to (with a value if that one takes one, unless the next word is a
 * verb), so that the verb's command says it is unknown and what was meant (run.ts).
 */
import { suggestFlags } from "./did-you-mean.ts";
import { VERBS } from "./verbs.ts";

/** Connection flags that take a value (as `--flag value` or `--flag=value`). */
const VALUED = new Set(["--cluster", "--peers", "--token", "--tls-ca", "--tls-cert", "--tls-key", "--timeout"]);
/** Connection flags without a value. */
const BARE = new Set(["-v", "--verbose"]);

/** For a misspelt connection flag (`--clustr`), whether the flag it is closest to takes a value; undefined for any other. */
function misspelt(name: string): "valued" | "bare" | undefined {
  const meant = name.startsWith("--") ? suggestFlags(name, [...VALUED, ...BARE]) : [];
  if (meant.length === 0) return undefined;
  return meant.some((m) => VALUED.has(m)) ? "valued" : "bare";
}

/** The connection flags (and misspelt ones) found before the verb, moved after everything else; the rest unchanged. */
export function hoistLeadingFlags(argv: readonly string[]): string[] {
  const moved: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split("=", 1)[0]!;
    if (BARE.has(a)) moved.push(a);
    else if (VALUED.has(name) && a.includes("=")) moved.push(a);
    else if (VALUED.has(a) && i + 1 < argv.length) moved.push(a, argv[++i]!);
    else {
      const meant = misspelt(name);
      if (meant === undefined) break;
      const value = argv[i + 1];
      if (meant === "valued" && !a.includes("=") && value !== undefined && !VERBS.some((v) => v.name === value)) moved.push(a, argv[++i]!);
      else moved.push(a);
    }
  }
  return moved.length === 0 ? [...argv] : [...argv.slice(i), ...moved];
}

/** The names hoisted (for the test that keeps them in step with the commands' flags). */
export const LEADING_FLAGS: readonly string[] = [...VALUED, ...BARE];
