import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { identityFrom } from "../identity";
import type { TeamSettings } from "../settings";

/** One per team: presence, queue, assignment, and the desk's live lists. */
export class TeamHub extends DurableObject<Env> {
  async fetch(request: Request): Promise<Response> {
    const who = identityFrom(request);
    if (!who || who.kind !== "agent") return new Response("forbidden", { status: 403 });
    if (request.headers.get("upgrade") !== "websocket") return new Response("expected a websocket", { status: 426 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1], [`agent:${who.agentId}`]);
    pair[1].serializeAttachment({ identity: who });
    pair[1].send(JSON.stringify({ type: "hello", agentId: who.agentId }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async settingsChanged(_settings: TeamSettings): Promise<void> {}
}
