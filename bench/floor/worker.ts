// The platform floor: the least a Durable Object can do to fan a message out.
// Hibernatable sockets, and on each message the received text sent as is to
// every socket of the object (no parsing, no storage). Our ChatRoom is
// measured against this in the same run, with the same client and load.
//
// A second object, FloorStoreRoom (paths /ws-store/:room), also inserts each
// received frame into its SQLite before sending it on: the least a room that
// keeps its messages (and so waits for the durable commit before anyone sees
// them) can do. It is a reference beside the floor, not the target.
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  FLOOR_ROOM: DurableObjectNamespace<FloorRoom>;
  FLOOR_STORE_ROOM: DurableObjectNamespace<FloorStoreRoom>;
}

export class FloorRoom extends DurableObject<FloorEnv> {
  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("Open as a WebSocket.", { status: 426 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async webSocketMessage(_ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.broadcast(data);
  }

  /** The received string is the "serialized once" frame: the same value to every socket. */
  protected broadcast(data: string | ArrayBuffer): void {
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

export class FloorStoreRoom extends FloorRoom {
  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS frames (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  }

  async webSocketMessage(_ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    // The output gate holds the sends below until this insert is durable.
    this.ctx.storage.sql.exec("INSERT INTO frames (body) VALUES (?)", typeof data === "string" ? data : "");
    this.broadcast(data);
  }
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const match = new URL(request.url).pathname.match(/^\/(ws|ws-store)\/([^/]+)$/);
    if (!match) return new Response("Not found.", { status: 404 });
    const name = decodeURIComponent(match[2]);
    if (match[1] === "ws-store") return env.FLOOR_STORE_ROOM.get(env.FLOOR_STORE_ROOM.idFromName(name)).fetch(request);
    return env.FLOOR_ROOM.get(env.FLOOR_ROOM.idFromName(name)).fetch(request);
  },
} satisfies ExportedHandler<FloorEnv>;
