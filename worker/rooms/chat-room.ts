import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { identityFrom } from "../identity";

/** One per (inbox, contact): the live conversation, its messages and timers. */
export class ChatRoom extends DurableObject<Env> {
  async fetch(request: Request): Promise<Response> {
    const who = identityFrom(request);
    if (!who) return new Response("forbidden", { status: 403 });
    if (request.headers.get("upgrade") !== "websocket") return new Response("expected a websocket", { status: 426 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [who.kind]);
    pair[1].serializeAttachment({ identity: who });
    pair[1].send(JSON.stringify({ type: "hello" }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }
}
