
import { Command, Flag } from "effect/cli";
import { isName } from "../../paxos/limits.ts";
import { AccountStore } from "../txn/node/accounts.ts";
import { startParticipantServer } from "../txn/node/participant-server.ts";
import { type ConnectionInput, checkSpaceName, connectionFlags, openClient, openTyped, resolveTarget } from "./cluster.ts";
import { operational, usage } from "./errors.ts";
import { withDefaultShown } from "./flags.ts";
import { clusterTls } from "./log-sequencer.ts";
import { parseListen } from "./node.ts";
import { serveUntilStopped } from "./serving.ts";

/** `NAME=BALANCE` → an opening balance (whole units, at least 0). */
function parseAccount(text: string): [string, number] {
  const at = text.indexOf("=");
  const name = text.slice(0, at);
  const balance = Number(text.slice(at + 1));
  if (at <= 0 || !isName(name) || !/^\d+$/.test(text.slice(at + 1)) || !Number.isSafeInteger(balance)) {
    throw usage(`--account must be NAME=BALANCE with a whole non-negative balance (got ${JSON.stringify(text)})`);
  }
  return [name, balance];
}

async function start(c: { name: string; dataDir: string; space: string; listen: string; account: readonly string[]; conn: ConnectionInput }) {
  if (!isName(c.name)) throw usage(`--name ${JSON.stringify(c.name)} is not a name (letters, digits, '.', '_' or '-')`);
  const space = checkSpaceName(c.space);
  const where = parseListen(c.listen);
  const accounts = new Map(c.account.map(parseAccount));
  const target = await resolveTarget(c.conn);
  const tls = await clusterTls(target);
  const { client, failure } = openClient(target);
  try {
    await openTyped(client, target, space, "txn");
    const store = await AccountStore.open({ name: c.name, dir: c.dataDir, client, space, accounts });
    try {
      const server = await startParticipantServer({
        participant: store,
        host: where.host,
        port: where.port,
        ...(tls ? { tls } : {}),
        ...(target.security.token ? { token: target.security.token } : {}),
        ...(target.clusterId ? { clusterId: target.clusterId } : {}),
      });
      return { server, store, client };
    } catch (e) {
      await store.close();
      throw operational(`participant ${c.name}: cannot listen on ${where.host}:${where.port}: ${(e as Error).message}`);
    }
  } catch (e) {
    client.close();
    throw failure(e);
  }
}

export const txnParticipantCommand = Command.make(
  "participant",
  {
    name: Flag.String("name").pipe(Flag.withDescription("this participant's name, as transactions' records name it")),
    dataDir: Flag.String("data-dir").pipe(Flag.withDescription("its account store (created on first use)")),
    space: Flag.String("space").pipe(withDefaultShown("the transaction space it serves", "txn")),
    listen: Flag.String("listen").pipe(withDefaultShown("host:port to listen on (port 0: any free port)", "127.0.0.1:0")),
    account: Flag.String("account").pipe(Flag.atLeast(0), Flag.withDescription("NAME=BALANCE: an opening balance of a new store (repeatable; a store that holds accounts keeps its own)")),
    conn: connectionFlags,
  },
  (c) =>
    serveUntilStopped({
      start: () => start(c),
      listening: (s) => ({ name: c.name, port: s.server.port, inDoubt: s.store.inDoubt }),
      close: async (s) => {
        await s.server.close();
        await s.store.close();
        s.client.close();
      },
      stopped: () => ({ name: c.name }),
    }),
).pipe(Command.withDescription("Run a WormTX participant (an account store) over gRPC until SIGINT/SIGTERM; prints a JSON line with its port when it listens"));
