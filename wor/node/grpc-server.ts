/**
 * The acceptor's gRPC server (docs/ARCHITECTURE.md §3.3): one long-lived bidirectional Session stream per
 * client, carrying batched envelopes, plus the unary admin calls Status and Inspect.
 *
 * Bytes become frames only through wor/wire/codec.ts. A malformed envelope is answered with an error
 * frame (id 0) and the stream keeps serving. Replies go out through a StreamWriter, which honours
 * the stream's backpressure and coalesces what queues meanwhile. A session budget bounds the reply
 * bytes held for clients that do not read: a backed-up session's requests are not read until it
 * catches up, and one backed up too long is closed with RESOURCE_EXHAUSTED (session-budget.ts).
 * With a token configured, every call must carry `authorization: Bearer <token>`; a call naming
 * another cluster id is refused. A storage failure stops the node; the server then shuts down
 * rather than serve from a disk in an unknown state.
 */
import * as grpc from "@grpc/grpc-js";
import {
  decodeActivateRequest,
  decodeBlocksRequest,
  decodeClientFrames,
  decodeInspectRequest,
  decodeReconfigureRequest,
  decodeStatusRequest,
  encodeBlocksReply,
  encodeInspectReply,
  encodeReconfigureReply,
  encodeStatus,
} from "../wire/codec.ts";
import { encodeConfiguration } from "../core/configuration.ts";
import { CONFIGURATION_TRAILER, EPOCH_METADATA, INSTALLER_METADATA } from "./credentials.ts";
import type { Change, Refusal } from "./membership.ts";
import { activateNode, blocksOfNode, tellNode } from "./reconfigure-node.ts";
import { type AcceptorHandlers, AcceptorService } from "../wire/service.ts";
import type { ErrorCode } from "../../paxos/messages.ts";
import type { AcceptorNode, FrameSink } from "./acceptor-node.ts";
import { type ListeningServer, type SessionServeOptions, admission, bindServer, exhaustCall, newServer, shutdownServer, statusError } from "./grpc-serving.ts";
import { SessionBudget, } from "./session-budget.ts";
import { replyWriter } from "./reply-writer.ts";

export type { ServerTls } from "./grpc-serving.ts";

/** The cluster id checked is the node's own. */
export interface AcceptorServerOptions extends Omit<SessionServeOptions, "clusterId"> {
  readonly node: AcceptorNode;
  /** Called when the server stopped on its own (a storage failure). */
  readonly onStopped?: (reason: unknown) => void;
  /** Called when the server closed a session on its own (a client that does not read). */
  readonly onSessionClosed?: (peer: string, reason: string) => void;
}

export type AcceptorServer = ListeningServer;

interface Session {
  readonly sink: FrameSink & { readonly epoch: number; readonly installer: boolean };
  /** End the stream at once with `refusal` (a configuration adopted since fenced it). */
  refuse(refusal: Refusal): void;
  end(): void;
  /** Drop what it holds (its stream is gone or being cancelled). */
  teardown(): void;
}

const INSPECT_STATUS: Record<ErrorCode, grpc.status> = {
  unknownSpace: grpc.status.NOT_FOUND,
  invalid: grpc.status.INVALID_ARGUMENT,
  tooLarge: grpc.status.RESOURCE_EXHAUSTED,
  notReady: grpc.status.UNAVAILABLE,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  internal: grpc.status.INTERNAL,
};

/** A refused session's status: the configuration to follow rides in a trailer. */
function refusalStatus(r: Refusal): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  if (r.configuration) metadata.set(CONFIGURATION_TRAILER, Buffer.from(encodeConfiguration(r.configuration)));
  return { ...statusError(r.kind === "joining" ? grpc.status.UNAVAILABLE : grpc.status.FAILED_PRECONDITION, `${r.kind}: ${r.message}`), metadata };
}

/** A session's epoch and installer flag from its metadata (no epoch: 0). */
function sessionOf(md: grpc.Metadata): { readonly epoch: number; readonly installer: boolean } {
  const raw = md.get(EPOCH_METADATA)[0];
  const epoch = raw === undefined ? 0 : Number(raw.toString());
  return { epoch: Number.isSafeInteger(epoch) && epoch >= 0 ? epoch : 0, installer: md.get(INSTALLER_METADATA).length > 0 };
}

const changeReply = (c: Change, callback: grpc.sendUnaryData<Uint8Array>) =>
  c.kind === "refused" ? callback(statusError(grpc.status.FAILED_PRECONDITION, c.message)) : callback(null, encodeReconfigureReply(c.kind === "adopt"));

export async function startAcceptorServer(options: AcceptorServerOptions): Promise<AcceptorServer> {
  const { node } = options;
  const sessions = new Set<Session>();
  const server = newServer();
  const admit = admission({ token: options.token, clusterId: node.clusterId }, "acceptor");
  const budget = new SessionBudget(options.budget);

  const handlers: AcceptorHandlers = {
    session(call) {
      const refused = admit(call.metadata);
      if (refused) {
        call.emit("error", refused);
        return;
      }
      const declared = sessionOf(call.metadata);
      const fenced = node.members?.admit(declared.epoch, declared.installer);
      if (fenced) {
        call.emit("error", refusalStatus(fenced));
        return;
      }
      let closed = false;
      const teardown = () => {
        if (closed) return;
        closed = true;
        writer.close();
        member.leave();
        node.detach(sink);
        sessions.delete(session);
      };
      // The server gives up on the session: drop what it holds, reset the stream, say why.
      const exhaust = (reason: string) => {
        const peer = call.getPeer();
        teardown();
        exhaustCall(call, reason);
        options.onSessionClosed?.(peer, reason);
      };
      const member = budget.join({ pause: () => call.pause(), resume: () => call.resume(), exhaust });
      const writer = replyWriter(call, {
        queuedFramesMax: options.queuedFramesMax,
        onFail: (error) => exhaust(error.message),
        onPendingChange: () => member.update(writer.pendingBytes, writer.stalled),
      });
      const sink = {
        ...declared,
        send: (frames: Parameters<FrameSink["send"]>[0]) => {
          writer.push(frames);
        },
        get closed() {
          return closed;
        },
      };
      const session: Session = {
        sink,
        teardown,
        refuse: (r) => {
          teardown();
          call.emit("error", refusalStatus(r));
        },
        end: () => {
          node.detach(sink);
          writer.end();
        },
      };
      sessions.add(session);
      call.on("data", (bytes: Uint8Array) => {
        if (closed) return;
        const decoded = decodeClientFrames(bytes);
        node.handle(decoded.ok ? decoded.value : [{ id: 0, kind: "invalid", error: decoded.error }], sink);
      });
      // The client half-closed: answer what it sent, then end our side.
      call.on("end", () => node.barrier(() => session.end()));
      call.on("cancelled", teardown);
      call.on("close", teardown);
      call.on("error", teardown);
    },
    status(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeStatusRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      callback(null, encodeStatus(node.status()));
    },
    inspect(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeInspectRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      void node.inspect(req.value).then((r) => {
        if (!r.ok) callback(statusError(INSPECT_STATUS[r.code], r.message));
        else callback(null, encodeInspectReply(r.value));
      });
    },
    reconfigure(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeReconfigureRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      tellNode(node, req.value).then((c) => changeReply(c, callback), (e: Error) => callback(statusError(grpc.status.UNAVAILABLE, e.message)));
    },
    activate(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      if (!decodeActivateRequest(call.request).ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, "malformed ActivateRequest"));
      activateNode(node).then((c) => changeReply(c, callback), (e: Error) => callback(statusError(grpc.status.UNAVAILABLE, e.message)));
    },
    blocks(call, callback) {
      const refused = admit(call.metadata);
      if (refused) return callback(refused);
      const req = decodeBlocksRequest(call.request);
      if (!req.ok) return callback(statusError(grpc.status.INVALID_ARGUMENT, req.error.message));
      const { space, fromBlock, max } = req.value;
      blocksOfNode(node, space, fromBlock, max).then(
        (b) => (b ? callback(null, encodeBlocksReply(b)) : callback(statusError(grpc.status.NOT_FOUND, `unknown space ${JSON.stringify(space)}`))),
        (e: Error) => callback(statusError(grpc.status.UNAVAILABLE, e.message)),
      );
    },
  };
  server.addService(AcceptorService, handlers);
  // A configuration adopted fences the sessions of older epochs (and all, once retired): end them now.
  node.members?.onChange(() => {
    for (const s of [...sessions]) {
      const r = node.members?.admit(s.sink.epoch, s.sink.installer);
      if (r) s.refuse(r);
    }
  });

  const port = await bindServer(server, options);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const s of [...sessions]) s.end();
      await shutdownServer(server);
      for (const s of [...sessions]) s.teardown();
      await node.close();
    })());

  node.onFailure((error) => {
    void close().then(() => options.onStopped?.(error));
  });
  return { port, close };
}
