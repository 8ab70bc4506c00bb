// The platform floor: the least a Durable Object can do to fan a message out.
// Hibernatable sockets, and on each message the received text sent as is to
// every socket of the object (no parsing, no storage). Our ChatRoom is
// measured against this in the same run, with the same client and load.
//
// A second object, FloorStoreRoom (paths /ws-store/:room), also inserts each
// received frame into its SQLite before sending it on: the least a room that
// keeps its messages (and so waits for the durable commit before anyone sees
// them) can do. It is a reference beside the floor, not the target.
//
// FloorDispatcher and FloorQueuedRoom are the floor for assigning a queue
// (paths /assign-seed/:batch and /assign/:batch): one object records a
// decision per chat, calls every chat's object at once over RPC, and records
// each answer; each chat's object, woken cold, commits one write and answers.
// That is the least a team hub and its rooms can do to hand out a queue, and
// what our TeamHub and ChatRooms are measured beside.
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  FLOOR_ROOM: DurableObjectNamespace<FloorRoom>;
  FLOOR_STORE_ROOM: DurableObjectNamespace<FloorStoreRoom>;
  FLOOR_DISPATCHER: DurableObjectNamespace<FloorDispatcher>;
  FLOOR_QUEUED_ROOM: DurableObjectNamespace<FloorQueuedRoom>;
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

/** One chat waiting in a queue: its row is written when it queues, and once more when it is handed out. */
export class FloorQueuedRoom extends DurableObject<FloorEnv> {
  async queue(): Promise<void> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS chat (id INTEGER PRIMARY KEY, agent TEXT)");
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO chat (id, agent) VALUES (1, NULL)");
  }

  async handOver(agent: string): Promise<{ agent: string }> {
    this.ctx.storage.sql.exec("UPDATE chat SET agent = ? WHERE id = 1", agent);
    return { agent };
  }
}

/** The least a team hub can do for a queue: a durable decision per chat, every call at once, each answer recorded. */
export class FloorDispatcher extends DurableObject<FloorEnv> {
  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS chats (room TEXT PRIMARY KEY, agent TEXT, answered INTEGER NOT NULL DEFAULT 0)");
  }

  private room(batch: string, i: number) {
    return this.env.FLOOR_QUEUED_ROOM.get(this.env.FLOOR_QUEUED_ROOM.idFromName(`${batch}:${i}`));
  }

  async queue(batch: string, chats: number): Promise<void> {
    await Promise.all(Array.from({ length: chats }, (_, i) => this.room(batch, i).queue()));
  }

  async dispatch(batch: string, chats: number, agents: number): Promise<void> {
    const calls: Promise<void>[] = [];
    for (let i = 0; i < chats; i++) {
      const agent = `agent-${i % agents}`;
      this.ctx.storage.sql.exec("INSERT OR REPLACE INTO chats (room, agent) VALUES (?, ?)", `${batch}:${i}`, agent);
      calls.push(
        this.room(batch, i)
          .handOver(agent)
          .then((answer) => void this.ctx.storage.sql.exec("UPDATE chats SET answered = 1 WHERE room = ? AND agent = ?", `${batch}:${i}`, answer.agent)),
      );
    }
    await Promise.all(calls);
  }
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url);
    const assign = url.pathname.match(/^\/(assign-seed|assign)\/([^/]+)$/);
    if (assign && request.method === "POST") {
      const chats = Number(url.searchParams.get("chats") ?? 1000);
      const agents = Number(url.searchParams.get("agents") ?? 10);
      const dispatcher = env.FLOOR_DISPATCHER.get(env.FLOOR_DISPATCHER.idFromName(assign[2]));
      if (assign[1] === "assign-seed") await dispatcher.queue(assign[2], chats);
      else await dispatcher.dispatch(assign[2], chats, agents);
      return Response.json({ ok: true });
    }
    const match = url.pathname.match(/^\/(ws|ws-store)\/([^/]+)$/);
    if (!match) return new Response("Not found.", { status: 404 });
    const name = decodeURIComponent(match[2]);
    if (match[1] === "ws-store") return env.FLOOR_STORE_ROOM.get(env.FLOOR_STORE_ROOM.idFromName(name)).fetch(request);
    return env.FLOOR_ROOM.get(env.FLOOR_ROOM.idFromName(name)).fetch(request);
  },
} satisfies ExportedHandler<FloorEnv>;
