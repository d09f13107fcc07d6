/**
 * What an acceptor node does for a reconfiguration (docs/ARCHITECTURE.md §3.5): adopt a newer
 * configuration, start serving once its state is installed, and list the blocks it holds for the
 * copy. A change runs in its turn among the frames and alone (`AcceptorNode.exclusive`): every frame
 * served before it is durable first, no frame runs until its identity is durable, and every frame
 * after it is admitted under it. So once it answers, the sessions it fences are refused for good.
 */
import type { Configuration } from "../core/configuration.ts";
import type { BlocksReply } from "../wire/admin.ts";
import type { AcceptorNode } from "./acceptor-node.ts";
import type { Change, Membership } from "./membership.ts";

async function change(node: AcceptorNode, decide: (m: Membership) => Change): Promise<Change> {
  return node.exclusive(async (storage) => {
    const m = node.members!;
    const c = decide(m);
    if (c.kind === "adopt") {
      await storage.writeIdentity(c.identity);
      m.adopted(c.identity);
    }
    return c;
  });
}

/** Tell `node` configuration `c`: adopted if newer, durably, before this resolves. */
export const tellNode = (node: AcceptorNode, c: Configuration): Promise<Change> => change(node, (m) => m.tell(c));

/** A joining replacement whose state is installed starts serving everyone. */
export const activateNode = (node: AcceptorNode): Promise<Change> => change(node, (m) => m.activate());

/** Up to `max` blocks of `space` from `fromBlock` on that hold durable state, with its trim mark and range promises. */
export const blocksOfNode = (node: AcceptorNode, space: string, fromBlock: number, max: number): Promise<BlocksReply | undefined> =>
  node.exclusive(async (storage) => {
    const s = node.core?.spaces.get(space);
    return s && { blocks: await storage.blocksWithState(space, fromBlock, max), blockSize: storage.blockSize, trimMark: s.trimMark, ranges: [...s.ranges] };
  });
