/**
 * The scenario interpreter: runs a transcript file's commands (./datadriven.ts) against a fresh
 * `World` and returns each block's output. The vocabulary is in ./register-commands.ts and
 * ./log-commands.ts; README.md lists it. A command it cannot parse throws (naming the file and
 * line): the transcript never records a typo as an expected output.
 */
import { type Block, OUTPUT_LINES_MAX, parseScenario } from "./datadriven.ts";
import { LOG_COMMANDS } from "./log-commands.ts";
import { REGISTER_COMMANDS } from "./register-commands.ts";
import { World } from "./world.ts";

interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

/** A command's arguments: named ones (`key=value`, `keyword value`, bare flags) are taken out
 *  wherever they stand; the rest are read in order. `done()` refuses any left over. */
export class Args {
  private readonly toks: Token[];
  constructor(
    readonly command: string,
    toks: readonly Token[],
  ) {
    this.toks = [...toks];
  }

  get more(): boolean {
    return this.toks.length > 0;
  }

  private take(what: string): Token {
    const t = this.toks.shift();
    if (!t) throw new Error(`${this.command}: missing ${what}`);
    return t;
  }
  word(what: string): string {
    const t = this.take(what);
    if (t.quoted) throw new Error(`${this.command}: ${what} should not be quoted (got ${JSON.stringify(t.text)})`);
    return t.text;
  }
  text(what: string): string {
    const t = this.take(what);
    if (!t.quoted) throw new Error(`${this.command}: ${what} must be a "quoted" string (got ${t.text})`);
    return t.text;
  }
  int(what: string): number {
    return toInt(this.word(what), `${this.command}: ${what}`);
  }
  /** `A..B`, the half-open range [A, B); or `A`, the one address [A, A+1). */
  range(what: string): [number, number] {
    const w = this.word(what);
    const m = /^(\d+)(?:\.\.(\d+))?$/.exec(w);
    if (!m) throw new Error(`${this.command}: ${what} must be N or A..B (got ${w})`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from + 1 : Number(m[2]);
    if (to <= from) throw new Error(`${this.command}: empty range ${w}`);
    return [from, to];
  }
  flag(name: string): boolean {
    const k = this.toks.findIndex((t) => !t.quoted && t.text === name);
    if (k < 0) return false;
    this.toks.splice(k, 1);
    return true;
  }
  opt(name: string): string | undefined {
    const k = this.toks.findIndex((t) => !t.quoted && t.text.startsWith(`${name}=`));
    if (k < 0) return undefined;
    const [t] = this.toks.splice(k, 1);
    return t!.text.slice(name.length + 1);
  }
  /** Return a flag taken out too early (before the positional arguments were read). */
  putBack(flag: string): void {
    this.toks.push({ text: flag, quoted: false });
  }
  /** `keyword value` (as in `deliver from c1 to a2`). */
  pair(keyword: string): string | undefined {
    const k = this.toks.findIndex((t) => !t.quoted && t.text === keyword);
    if (k < 0) return undefined;
    const [, v] = this.toks.splice(k, 2);
    if (!v) throw new Error(`${this.command}: ${keyword} needs a value`);
    return v.text;
  }
  done(): void {
    if (this.toks.length > 0) throw new Error(`${this.command}: unexpected ${this.toks.map((t) => (t.quoted ? JSON.stringify(t.text) : t.text)).join(" ")}`);
  }
}

export function toInt(w: string, what: string): number {
  if (!/^\d+$/.test(w)) throw new Error(`${what} must be a non-negative integer (got ${w})`);
  return Number(w);
}

function tokenize(line: string): Token[] {
  const out: Token[] = [];
  for (const m of line.matchAll(/"(?:[^"\\]|\\.)*"|\S+/g)) {
    const t = m[0];
    out.push(t.startsWith('"') ? { text: JSON.parse(t) as string, quoted: true } : { text: t, quoted: false });
  }
  return out;
}

export type CommandTable = Readonly<Record<string, (w: World, a: Args) => void>>;

const COMMANDS: CommandTable = { ...REGISTER_COMMANDS, ...LOG_COMMANDS };

/** Run every block of `text` in one world; each block's output, in order. */
export function runScenario(text: string, file: string): { blocks: Block[]; outputs: string[] } {
  const blocks = parseScenario(text, file);
  const world = new World();
  const outputs = blocks.map((b) => {
    const lines: string[] = [];
    for (const c of b.commands) {
      const [head, ...rest] = tokenize(c.text);
      const run = head && !head.quoted ? COMMANDS[head.text] : undefined;
      if (!run) throw new Error(`${file}:${c.line}: unknown command ${JSON.stringify(head?.text ?? "")}`);
      try {
        run(world, new Args(head!.text, rest));
      } catch (e) {
        throw new Error(`${file}:${c.line}: ${(e as Error).message}`, { cause: e });
      }
      lines.push(...world.takeOutput());
    }
    if (lines.length > OUTPUT_LINES_MAX) throw new Error(`${file}:${b.commands[0]!.line}: ${lines.length} output lines (limit ${OUTPUT_LINES_MAX})`);
    return lines.join("\n");
  });
  return { blocks, outputs };
}
