// The platform floor: the least a Durable Object can do to fan a message out.
// Hibernatable sockets, and on each message the received text sent as is to
// every socket of the object (no parsing, no storage). Our ChatRoom is
// measured against this in the same run, with the same client and load.
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  FLOOR_ROOM: DurableObjectNamespace<FloorRoom>;
}

export class FloorRoom extends DurableObject<FloorEnv> {
  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("Open as a WebSocket.", { status: 426 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async webSocketMessage(_ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    // The received string is the "serialized once" frame: the same value to every socket.
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(data);
      } catch {
        // closing socket
      }
    }
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // 1005/1006 are reserved and cannot be sent back in a close frame.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // already closed
    }
  }
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const room = new URL(request.url).pathname.match(/^\/ws\/([^/]+)$/)?.[1];
    if (!room) return new Response("Not found.", { status: 404 });
    return env.FLOOR_ROOM.get(env.FLOOR_ROOM.idFromName(decodeURIComponent(room))).fetch(request);
  },
} satisfies ExportedHandler<FloorEnv>;
