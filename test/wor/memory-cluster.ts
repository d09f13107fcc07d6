/** A three-acceptor cluster in memory: real AcceptorNodes on MemoryStorage, real client shells. */
import { AcceptorNode } from "../../wor/node/acceptor-node.ts";
import { WorClient, type WorClientOptions } from "../../wor/node/client.ts";
import { MemoryTransport } from "../../wor/node/memory-transport.ts";
import { MemoryStorage } from "../../wor/node/storage-memory.ts";

export class MemoryCluster {
  readonly clients: WorClient[] = [];
  private constructor(
    readonly nodes: AcceptorNode[],
    readonly storages: MemoryStorage[],
  ) {}

  static async start(acceptors = 3): Promise<MemoryCluster> {
    const storages = Array.from({ length: acceptors }, () => new MemoryStorage());
    const nodes = await Promise.all(
      storages.map((storage, acceptorId) =>
        AcceptorNode.open({ storage, identity: { clusterId: "test", acceptorId }, init: true, checkInvariants: true }),
      ),
    );
    return new MemoryCluster(nodes, storages);
  }

  /** A client with its own transport, so its links can be cut without touching other clients'. */
  client(options: Partial<WorClientOptions> = {}): { client: WorClient; transport: MemoryTransport } {
    const transport = new MemoryTransport(this.nodes);
    const client = new WorClient({ transport, acceptors: this.nodes.length, segmentSize: 64, roundTimeoutMs: 300, resendMs: 100, ...options });
    this.clients.push(client);
    return { client, transport };
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(this.nodes.map((n) => n.close()));
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
