/**
 * The transcript file format, after etcd's datadriven tests (docs/ARCHITECTURE.md §7.7). A file is blocks:
 *
 *     # comment lines and blank lines between blocks are kept as they are
 *     command args...
 *     command args...
 *     ----
 *     expected output, up to the next blank line
 *
 * Output that itself holds a blank line is written between doubled separators (`----` `----` …
 * `----` `----`). `parseScenario` reads a file, `rewriteScenario` puts actual outputs in place of
 * the expected ones (everything else stays byte for byte), `diffLines` says how two outputs differ.
 */

interface Command {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly text: string;
}

export interface Block {
  readonly commands: readonly Command[];
  readonly expected: string;
  /** Lines [from, to) of the file (0-based) that hold the separator and the expected output. */
  readonly outputFrom: number;
  readonly outputTo: number;
}

const SEPARATOR = "----";

/** Lines an output may have: a runaway scenario fails instead of writing a huge file. */
export const OUTPUT_LINES_MAX = 2_000;

export function parseScenario(text: string, file: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  let commands: Command[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line !== SEPARATOR) {
      if (line.trim() !== "" && !line.startsWith("#")) commands.push({ line: i + 1, text: line.trim() });
      else if (line.trim() === "" && commands.length > 0 && lines.slice(i).some((l) => l.trim() !== "")) {
        throw new Error(`${file}:${i + 1}: a blank line inside a block: commands must be followed by ${SEPARATOR}`);
      }
      i++;
      continue;
    }
    if (commands.length === 0) throw new Error(`${file}:${i + 1}: ${SEPARATOR} without a command before it`);
    const outputFrom = i;
    i++;
    const body: string[] = [];
    if (lines[i] === SEPARATOR) {
      // Doubled separators: the output ends at the next pair.
      i++;
      while (i < lines.length && !(lines[i] === SEPARATOR && lines[i + 1] === SEPARATOR)) body.push(lines[i++]!);
      if (i >= lines.length) throw new Error(`${file}:${outputFrom + 1}: output opened with ${SEPARATOR} ${SEPARATOR} is never closed`);
      i += 2;
    } else {
      while (i < lines.length && lines[i]!.trim() !== "") body.push(lines[i++]!);
    }
    blocks.push({ commands, expected: body.join("\n"), outputFrom, outputTo: i });
    commands = [];
  }
  if (commands.length > 0) throw new Error(`${file}:${commands[0]!.line}: commands without ${SEPARATOR} and an output`);
  return blocks;
}

/** The separator and output lines for `output` (doubled separators when it holds a blank line). */
function outputLines(output: string): string[] {
  if (output === "") return [SEPARATOR];
  const body = output.split("\n");
  if (body.some((l) => l.trim() === "")) return [SEPARATOR, SEPARATOR, ...body, SEPARATOR, SEPARATOR];
  return [SEPARATOR, ...body];
}

/** `text` with each block's expected output replaced by `actual[k]`. */
export function rewriteScenario(text: string, blocks: readonly Block[], actual: readonly string[]): string {
  const lines = text.split("\n");
  const out: string[] = [];
  let at = 0;
  blocks.forEach((b, k) => {
    out.push(...lines.slice(at, b.outputFrom), ...outputLines(actual[k]!));
    at = b.outputTo;
  });
  out.push(...lines.slice(at));
  return out.join("\n");
}

/** A line diff (longest common subsequence): `-` expected only, `+` actual only, ` ` both. */
export function diffLines(expected: string, actual: string): string[] {
  const a = expected === "" ? [] : expected.split("\n");
  const b = actual === "" ? [] : actual.split("\n");
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! > lcs[i + 1]![j]!)) out.push(`+ ${b[j++]}`);
    else out.push(`- ${a[i++]}`);
  }
  return out;
}
