// A team with its hub, agents and desk sockets, and real chat rooms for its
// conversations. Desk sockets go straight to the hub with the identity the
// Worker would forward (sockets.test.ts covers the Worker's part).
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach } from "vitest";
import { env } from "cloudflare:workers";
import type { AgentIdentity } from "../identity";
import type { ConversationSummary, RoomMessage } from "../protocol";
import type { RoomAddress } from "../rpc";
import type { TeamHub } from "../teams/team-hub";
import { seedAgent, seedInbox, seedTeam } from "./helpers";
import { collectFrames } from "./ws";

export interface HubAgent {
  id: string;
  name: string;
  identity: AgentIdentity;
}

export interface DeskSocket {
  ws: WebSocket;
  frames: any[];
  send(frame: unknown): void;
  /** The first frame after index `from` matching `match` (already received or future). */
  next(match: (f: any) => boolean, from?: number, timeoutMs?: number): Promise<any>;
  all(type: string): any[];
  /** Resolves once every frame the hub sent before this call has arrived (an error frame round trip). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Person {
  name: string;
  role?: "agent" | "manager";
  capacity?: number;
}

let n = 0;
const unique = () => `${Date.now().toString(36)}${(n++).toString(36)}`;

export const is = (type: string, extra: (f: any) => boolean = () => true) => (f: any) => f.type === type && extra(f);

export async function hubTeam(settings: Record<string, unknown>, people: Person[]) {
  const teamId = await seedTeam(`Hub team ${unique()}`, settings);
  const inboxId = await seedInbox(teamId);
  const agents: Record<string, HubAgent> = {};
  for (const p of people) {
    const role = p.role ?? "agent";
    const id = await seedAgent({ email: `${p.name.toLowerCase()}.${unique()}@hub.test`, name: p.name, teams: [{ teamId, role }] });
    if (p.capacity !== undefined) await env.DB.prepare("UPDATE agents SET capacity = ? WHERE id = ?").bind(p.capacity, id).run();
    agents[p.name] = { id, name: p.name, identity: { kind: "agent", agentId: id, name: p.name, role: "agent", teams: [{ teamId, role }] } };
  }
  const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(teamId));
  const admin: AgentIdentity = { kind: "agent", agentId: `admin-${unique()}`, name: "Admin", role: "admin", teams: [] };
  const open: DeskSocket[] = [];

  const room = (roomId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(roomId));
  const addressOf = (contactKey: string): RoomAddress => ({ roomId: `${inboxId}:${contactKey}`, inboxId, teamId, contactKey });

  const team = {
    teamId,
    inboxId,
    hub,
    agents,
    admin,

    async connect(who: AgentIdentity | HubAgent): Promise<DeskSocket> {
      const identity = "identity" in who ? who.identity : who;
      const res = await hub.fetch(
        new Request("https://hub.test/ws", {
          headers: { upgrade: "websocket", "x-edgedesk-identity": JSON.stringify(identity), "x-edgedesk-team": teamId },
        }),
      );
      if (res.status !== 101 || !res.webSocket) throw new Error(`hub upgrade → ${res.status} ${await res.text()}`);
      const s = deskSocket(res.webSocket);
      open.push(s);
      await s.next(is("snapshot"));
      return s;
    },

    /** A visitor writes: the room starts a queued conversation and tells the hub. */
    async newConversation(body = "Hello, anyone there?"): Promise<{ roomId: string; conversationId: string; address: RoomAddress }> {
      const contactKey = `v_${unique()}`;
      const address = addressOf(contactKey);
      const res = await room(address.roomId).perform({ kind: "visitor", inboxId, contactKey }, address, { type: "send", clientId: `c_${unique()}`, body });
      if (!res.ok) throw new Error(`visitor send failed: ${res.code}`);
      // The RPC stub's result type does not narrow on `ok`.
      const conversationId = (res.message as unknown as RoomMessage).conversationId;
      await team.eventually(async () => {
        if (!(await team.summary(conversationId))) throw new Error(`hub has not indexed ${conversationId}`);
      });
      return { roomId: address.roomId, conversationId, address };
    },

    /** An admin closes the room's conversation. */
    async close(address: RoomAddress): Promise<void> {
      const res = await room(address.roomId).perform(admin, address, { type: "close", reason: "resolved" });
      if (!res.ok) throw new Error(`close failed: ${res.code} ${res.message}`);
    },

    /** The hub's index entry (null when not indexed). */
    summary(conversationId: string): Promise<ConversationSummary | null> {
      return runInDurableObject(hub, (_h: TeamHub, state) => {
        const row = state.storage.sql.exec<{ summary: string }>("SELECT summary FROM conversations WHERE id = ?", conversationId).toArray()[0];
        return row ? (JSON.parse(row.summary) as ConversationSummary) : null;
      });
    },

    /** Every indexed conversation, as the hub has it. */
    summaries(): Promise<ConversationSummary[]> {
      return runInDurableObject(hub, (_h: TeamHub, state) =>
        state.storage.sql.exec<{ summary: string }>("SELECT summary FROM conversations").toArray().map((r) => JSON.parse(r.summary) as ConversationSummary),
      );
    },

    /** Room calls started by the hub have finished. */
    settled(): Promise<void> {
      return runInDurableObject(hub, (h: TeamHub) => h.background.idle());
    },

    /** Moves the hub's clock forward and runs its alarm, as if `ms` had passed. */
    async advance(ms: number): Promise<boolean> {
      await runInDurableObject(hub, (h: TeamHub) => h.clock.advance(ms));
      return runDurableObjectAlarm(hub);
    },

    timers(): Promise<{ kind: string; key: string }[]> {
      return runInDurableObject(hub, (_h: TeamHub, state) => state.storage.sql.exec<{ kind: string; key: string }>("SELECT kind, key FROM timers").toArray());
    },

    /**
     * Rooms push summaries to the hub asynchronously (coalesced, chained), so
     * outcomes that cross both objects are awaited by retrying the assertion.
     */
    async eventually(assertion: () => Promise<void> | void, timeoutMs = 5000): Promise<void> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        try {
          await team.settled();
          await assertion();
          return;
        } catch (err) {
          if (Date.now() > until) throw err;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    },

    async closeSockets(): Promise<void> {
      await Promise.all(open.splice(0).map((s) => s.close()));
    },
  };
  return team;
}

export type HubTeam = Awaited<ReturnType<typeof hubTeam>>;

/** `hubTeam` for a test file: every team made through it has its desk sockets closed after each test. */
export function hubTeams(): (...args: Parameters<typeof hubTeam>) => Promise<HubTeam> {
  const made: HubTeam[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((t) => t.closeSockets()));
  });
  return async (...args) => {
    const t = await hubTeam(...args);
    made.push(t);
    return t;
  };
}

function deskSocket(ws: WebSocket): DeskSocket {
  const s = collectFrames(ws);
  return {
    ...s,
    async flush() {
      const from = s.frames.length;
      ws.send("flush");
      await s.next((f) => f.type === "error" && f.code === "bad_json", from);
    },
  };
}
