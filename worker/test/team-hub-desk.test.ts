// The desk's team socket: hello and snapshot, list deltas, visibility,
// presence, timers and eviction (SPEC §5, §6).
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { teamSettingsSchema } from "../settings";
import { DESK_BATCH_MAX_MS, type DeskSockets } from "../teams/desk";
import type { TeamHub } from "../teams/team-hub";
import { hubTeams, is } from "./team-hub-fixture";

const team = hubTeams();

const presenceOf = (agentId: string, extra: (p: any) => boolean = () => true) => is("presence", (f) => f.presence.agentId === agentId && extra(f.presence));

describe("desk socket", () => {
  it("a desk gets hello with its role and the settings, then a snapshot of conversations and presence", async () => {
    const t = await team({ assignmentMode: "manual", overdueSeconds: 600 }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const c = await t.newConversation("Where is my order?");
    const mia = await t.connect(t.agents.Mia);
    const hello = mia.frames[0];
    expect(hello).toMatchObject({ type: "hello", agent: { id: t.agents.Mia.id, name: "Mia", role: "manager" }, teamId: t.teamId, settings: { assignmentMode: "manual", overdueSeconds: 600 } });
    const snapshot = mia.frames[1];
    expect(snapshot.type).toBe("snapshot");
    expect(snapshot.conversations).toEqual([expect.objectContaining({ id: c.conversationId, status: "queued", preview: "Where is my order?", marker: "none" })]);
    expect(snapshot.presence).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ agentId: t.agents.Mia.id, role: "manager", status: "online", connected: true }),
        expect.objectContaining({ agentId: t.agents.Ann.id, role: "agent", status: "offline", connected: false, available: false }),
      ]),
    );
  });

  it("presence changes are broadcast to every desk of the team", async () => {
    const t = await team({}, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const mia = await t.connect(t.agents.Mia);
    const ann = await t.connect(t.agents.Ann);
    await mia.next(presenceOf(t.agents.Ann.id, (p) => p.status === "online" && p.connected && p.available));
    const from = mia.frames.length;
    ann.send({ type: "status", status: "break" });
    const onBreak = await mia.next(presenceOf(t.agents.Ann.id, (p) => p.status === "break"), from);
    expect(onBreak.presence).toMatchObject({ available: false, connected: true });
    ann.send({ type: "panel", on: false });
    await mia.next(presenceOf(t.agents.Ann.id, (p) => p.chatPanel === false), from);
    // Ann's own desk hears it too.
    await ann.next(presenceOf(t.agents.Ann.id, (p) => p.chatPanel === false));
  });

  it("with the chat panel off an agent gets no new chats", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    ann.send({ type: "panel", on: false });
    await ann.next(presenceOf(t.agents.Ann.id, (p) => !p.chatPanel));
    const c = await t.newConversation();
    await t.settled();
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
    ann.send({ type: "panel", on: true });
    await t.eventually(async () => expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
  });

  it("with visibility 'assigned' an agent does not see others' conversations and is told when one leaves their view", async () => {
    const t = await team({ assignmentMode: "manual", visibility: "assigned" }, [{ name: "Ann" }, { name: "Ben" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const ben = await t.connect(t.agents.Ben);
    const mia = await t.connect(t.agents.Mia);
    const c = await t.newConversation();
    // Unassigned: everyone sees it.
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId));
    mia.send({ type: "assign", conversationId: c.conversationId, agentId: t.agents.Ben.id });
    await ann.next(is("removed", (f) => f.conversationId === c.conversationId));
    await ben.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.assigneeId === t.agents.Ben.id));
    await mia.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.assigneeId === t.agents.Ben.id));
    // A fresh desk for Ann does not list it; the manager's does.
    const annAgain = await t.connect(t.agents.Ann);
    expect(annAgain.all("snapshot")[0].conversations).toEqual([]);
    const miaAgain = await t.connect(t.agents.Mia);
    expect(miaAgain.all("snapshot")[0].conversations.map((x: any) => x.id)).toEqual([c.conversationId]);
  });

  it("invalid frames get an error frame and the socket stays open", async () => {
    const t = await team({}, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    ann.send("{not json");
    expect((await ann.next(is("error"))).code).toBe("bad_json");
    let from = ann.frames.length;
    ann.send({ type: "status", status: "dancing" });
    expect((await ann.next(is("error"), from)).code).toBe("invalid_frame");
    from = ann.frames.length;
    ann.send({ type: "teleport" });
    expect((await ann.next(is("error"), from)).code).toBe("invalid_frame");
    from = ann.frames.length;
    ann.send(new Uint8Array([1, 2, 3]));
    expect((await ann.next(is("error"), from)).code).toBe("unsupported");
    ann.send({ type: "status", status: "invisible" });
    await ann.next(presenceOf(t.agents.Ann.id, (p) => p.status === "invisible"));
  });

  it("a closed conversation leaves every desk's list", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId));
    await t.close(c.address);
    await ann.next(is("removed", (f) => f.conversationId === c.conversationId));
    expect(await t.summary(c.conversationId)).toBeNull();
  });

  it("an older summary arriving late does not overwrite a newer one", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const c = await t.newConversation("first words");
    const current = (await t.summary(c.conversationId))!;
    await t.hub.syncConversation({ ...current, preview: "stale", version: current.version - 1 });
    await t.hub.syncConversation({ ...current, preview: "same version", version: current.version });
    expect((await t.summary(c.conversationId))?.preview).toBe("first words");
  });

  it("a settings change reaches open desks as a fresh hello and snapshot", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const from = ann.frames.length;
    await t.hub.settingsChanged(teamSettingsSchema.parse({ assignmentMode: "grab", soonOverdueSeconds: 60 }));
    const hello = await ann.next(is("hello"), from);
    expect(hello.settings).toMatchObject({ assignmentMode: "grab", soonOverdueSeconds: 60 });
    await ann.next(is("snapshot"), from);
  });
});

describe("batched list deltas", () => {
  /** Ann's desk lists one conversation; then the hub's desk deltas are held the way a room call in flight holds them, and never let go. */
  async function heldDesk() {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation("first words");
    const current = (await t.summary(c.conversationId))!;
    await runInDurableObject(t.hub, (h: TeamHub) => {
      (h as unknown as { desk: DeskSockets }).desk.hold();
    });
    return { t, ann, current, from: ann.frames.length };
  }

  it("a burst of hand-overs reaches a desk in a few frames, every conversation in its final state", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 20 }, [{ name: "Ann" }, { name: "Bob" }]);
    const watcher = await t.connect(t.admin);
    const desks = [await t.connect(t.agents.Ann), await t.connect(t.agents.Bob)];
    for (const d of desks) d.send({ type: "status", status: "break" });
    await t.settled();
    const queued = await Promise.all(Array.from({ length: 40 }, () => t.newConversation()));
    const from = watcher.frames.length;
    for (const d of desks) d.send({ type: "status", status: "online" });
    await t.eventually(async () => {
      expect((await t.summaries()).filter((s) => s.status === "open")).toHaveLength(40);
    }, 30_000);
    await watcher.flush();
    const frames = watcher.frames.slice(from);
    // Each hand-over's outcome went out with others: far fewer frames than conversations.
    const carriers = frames.filter((f) => !f.batched && (f.type === "changes" || f.type === "conversation"));
    expect(frames.some((f) => f.type === "changes" && f.conversations.length > 1)).toBe(true);
    expect(carriers.length).toBeLessThan(20);
    // Nothing lost: the last word the desk got on each conversation is the hub's.
    const last = new Map<string, any>();
    for (const f of frames) if (f.type === "conversation") last.set(f.conversation.id, f.conversation);
    for (const s of await t.summaries()) {
      expect(last.get(s.id)).toMatchObject({ status: "open", assigneeId: s.assigneeId, version: s.version });
    }
    expect(queued.every((c) => last.has(c.conversationId))).toBe(true);
  }, 60_000);

  it("held changes to one conversation go out as its latest state, before any later frame to the same desk", async () => {
    const { t, ann, current, from } = await heldDesk();
    await t.hub.syncConversation({ ...current, preview: "held", version: current.version + 1 });
    await t.hub.syncConversation({ ...current, preview: "held again", version: current.version + 2 });
    // An error frame is a later frame: the two changes arrive before it, as one frame, the latest state.
    await ann.flush();
    const seen = ann.frames.slice(from).filter((f) => !f.batched);
    expect(seen.map((f) => f.type)).toEqual(["conversation", "error"]);
    expect(seen[0].conversation.preview).toBe("held again");
  });

  it("a batch whose room call never ends goes out from the alarm", async () => {
    const { t, ann, current, from } = await heldDesk();
    await t.hub.syncConversation({ ...current, preview: "waiting", version: current.version + 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(ann.frames.slice(from).filter((f) => f.type === "conversation")).toHaveLength(0);
    await t.advance(DESK_BATCH_MAX_MS);
    const f = await ann.next(is("conversation", (x) => x.conversation.preview === "waiting"), from);
    expect(f.conversation.version).toBe(current.version + 1);
  });
});

describe("presence over time", () => {
  it("an agent who loses their last socket stays available for the grace period, then counts as away", async () => {
    const t = await team({ assignmentMode: "auto", awayGraceSeconds: 60 }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const mia = await t.connect(t.agents.Mia);
    // Mia supervises: keep her out of the auto pool.
    mia.send({ type: "panel", on: false });
    const ann = await t.connect(t.agents.Ann);
    await ann.close();
    await t.eventually(async () => expect((await t.timers()).some((x) => x.kind === "away" && x.key === t.agents.Ann.id)).toBe(true));
    const from = mia.frames.length;
    await t.advance(59_000);
    await mia.flush();
    expect(mia.frames.slice(from).some((f) => f.type === "presence" && f.presence.agentId === t.agents.Ann.id && !f.presence.connected)).toBe(false);

    await t.advance(2_000);
    const away = await mia.next(presenceOf(t.agents.Ann.id, (p) => !p.connected), from);
    expect(away.presence).toMatchObject({ status: "online", available: false });
    const c = await t.newConversation();
    await t.settled();
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
  });

  it("reconnecting within the grace period cancels the away timer", async () => {
    const t = await team({ awayGraceSeconds: 60 }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    await ann.close();
    await t.eventually(async () => expect((await t.timers()).some((x) => x.kind === "away")).toBe(true));
    const again = await t.connect(t.agents.Ann);
    expect((await t.timers()).some((x) => x.kind === "away")).toBe(false);
    expect(again.all("snapshot")[0].presence[0]).toMatchObject({ agentId: t.agents.Ann.id, connected: true, available: true });
  });

  it("a waiting conversation turns soon, then overdue, when its thresholds pass", async () => {
    const t = await team({ assignmentMode: "manual", soonOverdueSeconds: 180, overdueSeconds: 300 }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.marker === "none"));
    await t.advance(181_000);
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.marker === "soon"));
    await t.advance(120_000);
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.marker === "overdue"));
    // Nothing left to change: the marker timer is gone.
    expect((await t.timers()).some((x) => x.kind === "marker")).toBe(false);
  });
});

describe("durability", () => {
  it("eviction keeps presence, the queue and timers, and hibernated desks keep working", async () => {
    const t = await team({ assignmentMode: "manual", awayGraceSeconds: 60 }, [{ name: "Ann" }, { name: "Ben" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    ann.send({ type: "status", status: "break" });
    await ann.next(presenceOf(t.agents.Ann.id, (p) => p.status === "break"));
    const ben = await t.connect(t.agents.Ben);
    await ben.close();
    const c = await t.newConversation();
    await t.eventually(async () => expect((await t.timers()).some((x) => x.kind === "away")).toBe(true));

    await evictDurableObject(t.hub);

    // Ann's hibernated socket still speaks for Ann.
    const from = ann.frames.length;
    ann.send({ type: "status", status: "online" });
    await ann.next(presenceOf(t.agents.Ann.id, (p) => p.status === "online"), from);
    // A new desk sees the queue and everyone's presence as they were.
    const mia = await t.connect(t.agents.Mia);
    const snapshot = mia.all("snapshot")[0];
    expect(snapshot.conversations.map((x: any) => x.id)).toEqual([c.conversationId]);
    expect(snapshot.presence.find((p: any) => p.agentId === t.agents.Ben.id)).toMatchObject({ status: "online", connected: true });
    const timers = await t.timers();
    expect(timers).toEqual(expect.arrayContaining([{ kind: "away", key: t.agents.Ben.id }, { kind: "marker", key: c.conversationId }]));
    // And the grace timer still fires after the eviction.
    const later = mia.frames.length;
    await t.advance(61_000);
    await mia.next(presenceOf(t.agents.Ben.id, (p) => !p.connected), later);
  });
});

describe("notifications", () => {
  it("a mention in a note is stored and pushed to the mentioned agent's desk", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    const room = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c.roomId));
    const res = await room.perform(t.agents.Mia.identity, c.address, { type: "send", clientId: "note-mention-1", kind: "note", body: "Ann, this one is yours", mentions: [t.agents.Ann.id] });
    expect(res.ok).toBe(true);
    const frame = await ann.next(is("notification"));
    expect(frame.notification).toMatchObject({ kind: "mention", roomId: c.roomId, conversationId: c.conversationId });
    expect(frame.notification.body).toContain("Ann, this one is yours");
    const row = await env.DB.prepare("SELECT kind, conversation_id, read_at FROM notifications WHERE id = ? AND agent_id = ?").bind(frame.notification.id, t.agents.Ann.id).first();
    expect(row).toEqual({ kind: "mention", conversation_id: c.conversationId, read_at: null });
  });

  it("a mention reaches only members who may see the conversation: not someone outside the team, not an agent it is hidden from", async () => {
    const t = await team({ assignmentMode: "manual", visibility: "assigned" }, [{ name: "Ann" }, { name: "Ben" }, { name: "Mia", role: "manager" }]);
    await t.connect(t.agents.Ben);
    const c = await t.newConversation();
    expect(await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Mia.identity, mode: "assign" })).toEqual({ ok: true });
    const outsider = crypto.randomUUID();
    const room = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c.roomId));
    const res = await room.perform(t.agents.Mia.identity, c.address, { type: "send", clientId: "note-mention-2", kind: "note", body: "Card ends 4242, refund it", mentions: [t.agents.Ann.id, t.agents.Ben.id, outsider] });
    expect(res.ok).toBe(true);
    const notified = () => env.DB.prepare("SELECT agent_id FROM notifications WHERE conversation_id = ?").bind(c.conversationId).all<{ agent_id: string }>();
    await t.eventually(async () => expect((await notified()).results).toEqual([{ agent_id: t.agents.Ben.id }]));
  });
});
