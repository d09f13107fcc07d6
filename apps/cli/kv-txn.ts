/**
 * `worm kv txn FILE|-`: a transaction from JSON (a file, or standard input):
 *
 *   { "if":   [ { "key": "a", "value": "1" }, { "key": "b", "absent": true },
 *               { "key": "c", "modRevision": 5 }, { "key": "d", "version": 2, "result": "greater" } ],
 *     "then": [ { "put": { "key": "a", "value": "2" } }, { "del": { "key": "b" } },
 *               { "del": { "from": "x", "to": "y" } }, { "get": { "key": "a" } },
 *               { "get": { "from": "p", "to": "q", "limit": 10 } } ],
 *     "else": [ ... ] }
 *
 * A compare holds with `result` (default "equal") between the key's field and the number or text
 * given; `absent: true` is version 0. A range's "from" "" is the start of the key space, its "to" ""
 * the end. It prints whether the `then` branch ran, the revision, and each op's response.
 *
 * A transaction whose keys are in several partitions commits across them (apps/kv/core/cross.ts):
 * no `else`, and its ops put and delete single keys. It prints whether it committed (every compare
 * held) and its number in the KV's transaction space.
 */
import { Argument, Command } from "effect/cli";
import type { Compare, CompareResult, KvOp, KvTxn, OpResponse } from "../kv/core/commands.ts";
import { txnProblem } from "../kv/core/commands.ts";
import { connectionFlags } from "./cluster.ts";
import { task, usage } from "./errors.ts";
import { readBounded } from "./input.ts";
import { kvNameFlag, resultOf, withKv } from "./kv-flags.ts";
import { recordJson } from "./kv.ts";
import { json } from "./log-read.ts";
import { printJson, printLine } from "./output.ts";

const utf8 = new TextEncoder();
const RESULTS: readonly CompareResult[] = ["equal", "notEqual", "less", "greater"];
/** Bytes of a transaction's JSON: room for its ops' values (TXN_LIMITS) in text. */
const TXN_SOURCE_BYTES_MAX = 64 << 20;

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);
const str = (x: unknown, what: string): string => {
  if (typeof x !== "string") throw usage(`${what} must be a string`);
  return x;
};

function compareOf(x: unknown, at: string): Compare {
  if (!isObject(x)) throw usage(`${at} must be an object`);
  const key = str(x.key, `${at}.key`);
  const result = (x.result ?? "equal") as CompareResult;
  if (!RESULTS.includes(result)) throw usage(`${at}.result must be one of ${RESULTS.join(", ")}`);
  if (x.absent === true) return { key, target: "version", result: "equal", number: 0 };
  if (typeof x.value === "string") return { key, target: "value", result, value: utf8.encode(x.value) };
  for (const target of ["version", "modRevision", "createRevision"] as const) {
    if (x[target] !== undefined) {
      const n = x[target];
      if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw usage(`${at}.${target} must be a non-negative integer`);
      return { key, target, result, number: n };
    }
  }
  throw usage(`${at} needs one of value, absent, version, modRevision, createRevision`);
}

function opOf(x: unknown, at: string): KvOp {
  if (!isObject(x) || Object.keys(x).length !== 1) throw usage(`${at} must be one of {"put": ...}, {"del": ...}, {"get": ...}`);
  const [kind, body] = Object.entries(x)[0]!;
  if (!isObject(body)) throw usage(`${at}.${kind} must be an object`);
  if (kind === "put") return { op: "put", key: str(body.key, `${at}.put.key`), value: utf8.encode(str(body.value, `${at}.put.value`)) };
  if (kind !== "del" && kind !== "get") throw usage(`${at}: unknown op ${JSON.stringify(kind)} (put, del, get)`);
  const op = kind === "del" ? "delete" : "range";
  const limit = body.limit;
  if (limit !== undefined && (kind === "del" || typeof limit !== "number")) throw usage(`${at}.${kind}.limit: only a get takes a limit, a number`);
  if (body.key !== undefined) return { op, key: str(body.key, `${at}.${kind}.key`), ...(limit !== undefined ? { limit: limit as number } : {}) } as KvOp;
  return { op, key: str(body.from, `${at}.${kind}.from`), to: str(body.to, `${at}.${kind}.to`), ...(limit !== undefined ? { limit: limit as number } : {}) } as KvOp;
}

/** The transaction a JSON text describes, or a usage failure saying what is wrong with it. */
function parseTxn(source: string): KvTxn {
  let o: unknown;
  try {
    o = JSON.parse(source);
  } catch (e) {
    throw usage(`the transaction is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(o)) throw usage('the transaction must be an object: {"if": [...], "then": [...], "else": [...]}');
  const unknown = Object.keys(o).filter((k) => !["if", "then", "else"].includes(k));
  if (unknown.length > 0) throw usage(`unknown field ${JSON.stringify(unknown[0])} (if, then, else)`);
  const list = (k: string): unknown[] => {
    const v = o[k] ?? [];
    if (!Array.isArray(v)) throw usage(`"${k}" must be a list`);
    return v;
  };
  const txn: KvTxn = { compares: list("if").map((c, i) => compareOf(c, `if[${i}]`)), success: list("then").map((x, i) => opOf(x, `then[${i}]`)), failure: list("else").map((x, i) => opOf(x, `else[${i}]`)) };
  const problem = txnProblem(txn);
  if (problem) throw usage(problem);
  return txn;
}

const responseJson = (r: OpResponse) =>
  r.op === "put"
    ? { put: { previous: r.prev ? recordJson("", r.prev).value : null } }
    : r.op === "delete"
      ? { del: { deleted: r.deleted.map(([k, rec]) => recordJson(k, rec)) } }
      : { get: { found: r.found.map(([k, rec]) => recordJson(k, rec)), more: r.more } };

export const kvTxnCommand = Command.make(
  "txn",
  { file: Argument.String("file").pipe(Argument.withDescription("the transaction as JSON: a file, or - for standard input")), kv: kvNameFlag, json, conn: connectionFlags },
  (c) =>
    task(async () => {
      const source = await readBounded(c.file, TXN_SOURCE_BYTES_MAX, "txn", `a transaction is at most ${TXN_SOURCE_BYTES_MAX} bytes of JSON`);
      const txn = parseTxn(new TextDecoder().decode(source));
      const w = resultOf(await withKv(c.conn, c.kv, (kv) => kv.txn(txn)), true);
      const { succeeded, revision, responses } = w.result;
      if (w.across) {
        const { txn: number, partitions } = w.across;
        if (c.json) printJson({ succeeded, txn: number, partitions });
        else printLine(`${succeeded ? "committed" : "not committed: a compare failed"} (transaction ${number} across partitions ${partitions.join(", ")})`);
        return;
      }
      if (c.json) {
        printJson({ succeeded, revision, partition: w.partition, position: w.position, responses: responses.map(responseJson) });
        return;
      }
      printLine(`${succeeded ? "then" : "else"} ran (revision ${revision}, partition ${w.partition})`);
      for (const r of responses) printLine(JSON.stringify(responseJson(r)));
    }),
).pipe(Command.withDescription("Run a transaction given as JSON (if / then / else); prints which branch ran and each op's response (across partitions: whether it committed)"));
