// The conversation state machine of SPEC §2–§4: every command a socket or the
// API can run in a room, the hub's assignment calls, and the room's timers.
import type { Env } from "../env";
import { verifyReceipt } from "../files/receipt";
import { type AgentIdentity, type Identity, isTeamManager } from "../identity";
import type { CloseReason, Conversation, ConversationSummary, RoomClientFrame, RoomMessage, RoomServerFrame } from "../protocol";
import type { AssignRequest, AssignResult, RoomAddress, RpcResult } from "../rpc";
import { type BotFlow, inboxSettingsSchema } from "../settings";
import type { RequeueReason } from "../teams/rooms-port";
import type { TeamHub } from "../teams/team-hub";
import type { DueTimer, Timers } from "../timers";
import { botAnswer, botGreeting, type BotLine, type HandoverReason } from "./bot-flow";
import { canActIn, canSee } from "./room-access";
import { RoomError, type RoomErrorCode } from "./room-errors";
import type { RoomSettings } from "./room-settings";
import { type ConversationRow, type NewMessage, type RoomStore, toConversation } from "./room-store";
import { visitorDetails } from "./visitor-details";
import { VisitorPace } from "./visitor-pace";

const DEFAULT_VISITOR_MESSAGES_PER_MINUTE = inboxSettingsSchema.shape.visitorMessagesPerMinute.parse(undefined);

/** The internal line a requeue leaves, by reason. */
const REQUEUED_BECAUSE: Record<RequeueReason, (agent: string) => string> = {
  offline: (agent) => `${agent} went offline; the conversation is back in the queue`,
  timeout: (agent) => `${agent} did not answer in time; reassigning`,
  removed: (agent) => `${agent} is no longer in the team; the conversation is back in the queue`,
};

/** What the flow needs from its Durable Object. */
export interface RoomHost {
  readonly store: RoomStore;
  readonly timers: Timers;
  address(): RoomAddress;
  settings(force?: boolean, forNewConversation?: boolean): Promise<RoomSettings>;
  cachedSettings(): RoomSettings | null;
  broadcast(frame: RoomServerFrame | (() => RoomServerFrame), audience?: "all" | "agents" | "visitors"): void;
  dropAgentsWhoCannotSee(): void;
  /** The room's conversations `who` may read (null: all). */
  readableConversations(who: AgentIdentity): string[] | null;
  syncHub(urgent?: boolean, teamIds?: string[]): void;
  hubUpToDate(): Promise<void>;
  summaryForHub(): ConversationSummary | null;
  scheduleFlush(now?: boolean): void;
  /** The team's hub (RPC stub). */
  hub(teamId: string): DurableObjectStub<TeamHub>;
  /** Whether anyone in the conversation's team can take a chat now (asked of the hub; true if it cannot be asked). */
  agentsAvailable(): Promise<boolean>;
}

type Frame<T extends RoomClientFrame["type"]> = Extract<RoomClientFrame, { type: T }>;
export interface RunResult {
  message?: RoomMessage;
  duplicate?: RoomMessage;
}

const CONVERSATION_TIMERS = ["window", "inactivity", "pending", "response"] as const;
/** Hub refusal codes → room error codes (the rest are conflicts). */
const HUB_CODES: Record<string, RoomErrorCode> = {
  agent_unavailable: "agent_unavailable",
  over_capacity: "agent_unavailable",
  forbidden: "forbidden",
  not_member: "forbidden",
  managers_join: "forbidden",
  not_found: "not_found",
};
const SYSTEM = { type: "system", id: null, name: null } as const;
const BOT = { type: "bot", id: null, name: null } as const;

/** The internal line that says why the bot let go (the customer sees the bot's hand-over message). */
const HANDED_OVER_BECAUSE: Record<HandoverReason | "entered", (agent: string) => string> = {
  asked: () => "The bot handed the conversation to the team: the customer asked for a person",
  gave_up: () => "The bot handed the conversation to the team: it did not understand the customer",
  bot_off: () => "The bot handed the conversation to the team: the inbox's bot is switched off",
  entered: (agent) => `The bot handed the conversation to the team: ${agent} entered the chat`,
};
/** Meta key: answers in a row the bot did not understand, and the conversation it counts them for. */
const BOT_MISSES = "botMisses";
/** Thrown inside the send transaction to roll it back when the client id is already stored. */
const ALREADY_STORED = Symbol("already stored");

interface HubAsk {
  mode: "take" | "assign" | "transfer";
  agentId: string;
  note?: string;
}

function throwIfRefused(outcome: RpcResult): void {
  if (!outcome.ok) throw new RoomError(HUB_CODES[outcome.code] ?? "conflict", outcome.message);
}

export class ConversationFlow {
  private readonly visitorPace = new VisitorPace();

  constructor(
    private readonly room: RoomHost,
    private readonly env: Env,
  ) {}

  private get store() {
    return this.room.store;
  }

  // ───────────── views ─────────────

  /** The conversation as clients see it; visitors get no internal fields. */
  snapshot(row: ConversationRow, forVisitor = false): Conversation {
    const full = toConversation(row, this.room.address(), this.store.participants(row.id), this.store.getMeta<string>("contactName"));
    if (!forVisitor) return full;
    return { ...full, title: null, tags: [], closeComment: null, criticalComment: null, closeReason: null, flagged: false, critical: false, details: {}, mergedInto: null };
  }

  /** Read pointers; visitors learn only how far "the agents" have read. */
  publicReads(forAgent: boolean): Record<string, number> {
    const reads = this.store.reads();
    if (forAgent) return reads;
    const agentSeq = Math.max(0, ...Object.entries(reads).filter(([k]) => k !== "visitor").map(([, v]) => v));
    return { visitor: reads.visitor ?? 0, agent: agentSeq };
  }

  recordVisitorDetails(request: Request): void {
    this.store.setMeta("visitorDetails", visitorDetails(request));
  }

  // ───────────── commands ─────────────

  async run(who: Identity, frame: RoomClientFrame): Promise<RunResult | void> {
    if (who.kind === "visitor") {
      if (frame.type === "send") return this.send(who, frame);
      if (frame.type === "read") return this.read(who, frame.seq);
      if (frame.type === "csat") return this.csat(frame);
      throw new RoomError("forbidden", `Visitors cannot ${frame.type}.`);
    }
    switch (frame.type) {
      case "send":
        return this.send(who, frame);
      case "read":
        return this.read(who, frame.seq);
      case "join":
        return this.join(who);
      case "leave":
        return this.leave(who);
      case "assign":
        return this.askHub(who, { mode: "assign", agentId: frame.agentId });
      case "transfer":
        if (!frame.agentId === !frame.teamId) throw new RoomError("invalid_frame", "Transfer to an agent or to a team (one of agentId, teamId).");
        return frame.teamId ? this.transferToTeam(who, frame.teamId, frame.note) : this.askHub(who, { mode: "transfer", agentId: frame.agentId!, note: frame.note });
      case "setStatus":
        return this.setStatus(who, frame.status);
      case "close":
        return this.closeByAgent(who, frame);
      case "reopen":
        return this.reopen(who);
      case "flag":
        return this.update(who, { flagged: frame.on ? 1 : 0 }, frame.on ? "flagged" : "unflagged", `${who.name} ${frame.on ? "flagged" : "unflagged"} the conversation`);
      case "critical":
        return this.critical(who, frame);
      case "rename":
        return this.update(who, { title: frame.title || null }, "renamed", `${who.name} renamed the conversation to “${frame.title}”`);
      case "tags": {
        const tags = [...new Set(frame.tags)];
        return this.update(who, { tags: JSON.stringify(tags) }, "tagged", `${who.name} set tags: ${tags.join(", ") || "none"}`);
      }
      case "merge":
        return this.merge(who, frame.fromConversationId);
      case "csat":
        throw new RoomError("forbidden", "Only the customer answers the feedback request.");
      case "typing":
      case "history":
        return;
    }
  }

  private async send(who: Identity, f: Frame<"send">): Promise<RunResult> {
    const visitor = who.kind === "visitor";
    if (visitor && f.kind === "note") throw new RoomError("forbidden", "Visitors cannot write notes.");
    if (!f.body.trim() && !f.attachments.length) throw new RoomError("empty_message", "Write something or attach a file.");
    const address = this.room.address();
    const before = this.store.current();
    const mayStart = visitor && (!before || before.status === "closed");
    // The bot answers with the inbox's bot as it is now (read again once a minute): switched off
    // or edited by an admin, that holds for conversations already with it within the minute.
    const toTheBot = visitor && before?.status === "bot";
    let settings = mayStart ? null : toTheBot ? await this.room.settings() : this.room.cachedSettings();
    if (!settings || f.attachments.length) {
      // Slow work ahead (receipts, settings from D1): a retry is answered before it.
      const early = this.duplicateOf(who, f.clientId);
      if (early) return { duplicate: early };
      for (const a of f.attachments) {
        if (!(await verifyReceipt(this.env.FILE_URL_SECRET, address.roomId, a))) throw new RoomError("invalid_attachment", `${a.name} was not uploaded to this conversation.`);
      }
      // A new conversation reads its settings, and the inbox's team, from D1 (once per conversation).
      settings = mayStart ? await this.room.settings(true, true) : (this.room.cachedSettings() ?? (await this.room.settings()));
    }
    // Paced by the inbox's budget, known by now (a new room's first burst must not meet a default).
    // Channel messages come through their provider's webhook, which cannot be told to wait: only web visitors are paced.
    if (visitor && settings.inboxKind === "web") {
      const perMinute = settings.visitorMessagesPerMinute ?? DEFAULT_VISITOR_MESSAGES_PER_MINUTE;
      if (!this.visitorPace.take(perMinute)) {
        // A retry of a message already stored is still answered with it.
        const stored = this.duplicateOf(who, f.clientId);
        if (stored) return { duplicate: stored };
        throw new RoomError("rate_limited", `You are sending messages too fast. Wait ${this.visitorPace.waitSeconds(perMinute)} s and send again.`);
      }
    }

    // No awaits from here on: the check, the insert and the fan-out are one step.
    // Re-read everything: another message may have started the conversation during an await.
    let current = this.store.current();
    const starts = visitor && (!current || current.status === "closed");
    const now = Date.now();
    const author = visitor
      ? ({ type: "visitor", id: who.contactKey, name: this.store.getMeta<string>("contactName") } as const)
      : ({ type: "agent", id: who.agentId, name: who.name } as const);
    const kind = f.kind === "note" ? "note" : f.attachments.length ? "attachment" : "text";
    const data = f.attachments.length ? { attachments: f.attachments.map(({ receipt: _r, ...a }) => a) } : null;

    if (!visitor) {
      const refusal = this.agentMayNotSend(who, current, kind, settings.visibility);
      if (refusal) {
        // A retry of a message stored before the conversation closed still gets its message back.
        const dup = this.duplicateOf(who, f.clientId);
        if (dup) return { duplicate: dup };
        throw refusal;
      }
    }

    const out: RoomMessage[] = [];
    let started: ConversationRow | null = null;
    const statusBefore = current?.status;
    /** The bot handed over: its last line to the customer follows (see announceHandover). */
    let handedOver: BotFlow | null = null;
    try {
      this.store.transaction(() => {
        if (starts) {
          started = this.startConversation(settings, now);
          current = started;
        }
        const conv = current!;
        // The client id check and the insert are one statement; a retry rolls the rest back.
        const message = this.store.insertMessageOnce({ conversationId: conv.id, kind, author, clientId: f.clientId, body: f.body, data, internal: kind === "note" }, now);
        if (!message) throw ALREADY_STORED;
        out.push(message);
        if (visitor) {
          const resumes = conv.status === "pending";
          // With the bot, the customer waits for nobody: the queue (and its markers) start at the hand-over.
          const withBot = conv.status === "bot";
          this.store.updateConversation(conv.id, {
            last_customer_at: now,
            last_customer_seq: message.seq,
            last_activity_at: now,
            ...(withBot ? {} : { waiting_since: conv.waiting_since ?? now }),
            ...(resumes ? { status: "open", pending_since: null } : {}),
          });
          if (resumes) out.push(this.event(conv.id, "status", "The customer answered; the conversation is open again", true, { status: "open" }, now));
          // The agent's time to answer starts when the customer starts waiting, and again when they
          // come back to a pending conversation (its timer found it pending and let go).
          if (conv.assignee_id && (conv.waiting_since === null || resumes)) this.startResponseTime(conv.id, settings, now);
          if (withBot) {
            handedOver = this.botTurn(conv, started ? null : message, settings, now, out);
          } else if (started && settings.autoGreeting) {
            out.push(this.store.insertMessage({ conversationId: conv.id, kind: "text", author: BOT, body: settings.autoGreeting, internal: false }, now));
          }
        } else if (kind === "note") {
          if (f.mentions.length) {
            const mentioned = new Set([...(JSON.parse(conv.mentioned) as string[]), ...f.mentions]);
            this.store.updateConversation(conv.id, { mentioned: JSON.stringify([...mentioned]) });
          }
        } else {
          this.store.updateConversation(conv.id, { last_agent_at: now, last_activity_at: now, waiting_since: null, ...(conv.first_response_at ? {} : { first_response_at: now }) });
          // A manager or an admin may answer without joining: a person is talking now, so the bot
          // steps aside (the customer was just answered: nobody waits yet).
          if (conv.status === "bot") this.handOverFromBot(conv, "entered", now, out, who.name, null);
        }
      });
    } catch (err) {
      if (err !== ALREADY_STORED) throw err;
      return { duplicate: this.duplicateOf(who, f.clientId)! };
    }

    // A new conversation may start in another team (the inbox moved): its lines are not for the old team's sockets.
    if (started) this.room.dropAgentsWhoCannotSee();
    for (const m of out) this.room.broadcast({ type: "message", message: m }, m.internal ? "agents" : "all");
    const conv = this.store.current()!;
    if (started || out.length > 1) this.emitConversation(conv);
    this.room.scheduleFlush();
    // A state change goes to the hub at once: a new conversation, or the bot handing one over.
    this.room.syncHub(!!started || conv.status !== statusBefore);
    if (handedOver) await this.announceHandover(conv.id, handedOver);
    if (kind === "note" && f.mentions.length && who.kind === "agent") {
      const body = `${who.name} mentioned you: ${f.body.slice(0, 140)}`;
      void this.room.hub(conv.team_id)
        .notify(f.mentions.filter((id) => id !== who.agentId), { kind: "mention", roomId: address.roomId, conversationId: conv.id, body })
        .catch((err) => console.error(JSON.stringify({ level: "warn", msg: "mention notify failed", error: String(err) })));
    }
    return { message: out[0] };
  }

  /** Why an agent may not send `kind` here now, or null when they may. */
  private agentMayNotSend(who: AgentIdentity, current: ConversationRow | null, kind: "note" | "attachment" | "text", visibility: RoomSettings["visibility"]): RoomError | null {
    if (!current) return new RoomError("no_conversation", "There is no conversation to answer yet.");
    if (current.status === "closed") return new RoomError("conversation_closed", "This conversation is closed; reopen it first.");
    const participants = this.participantIds(current.id);
    if (!canSee(who, current, this.room.address().teamId, visibility, participants)) return new RoomError("forbidden", "You cannot see this conversation.");
    if (kind !== "note" && !canActIn(who, current, participants)) return new RoomError("forbidden", "Join the conversation before answering.");
    return null;
  }

  private duplicateOf(who: Identity, clientId: string): RoomMessage | null {
    const existing = this.store.byClientId(clientId);
    if (!existing) return null;
    const key = who.kind === "visitor" ? `visitor:${who.contactKey}` : `agent:${who.agentId}`;
    if (existing.authorKey !== key) throw new RoomError("duplicate_client_id", "That clientId belongs to another message.");
    const { authorKey: _k, ...message } = existing;
    return message;
  }

  private startConversation(settings: RoomSettings, now: number): ConversationRow {
    const address = this.room.address();
    const id = crypto.randomUUID();
    const details = { ...(this.store.getMeta<Record<string, string>>("visitorDetails") ?? {}) };
    this.store.insertConversation({ id, status: settings.bot ? "bot" : "queued", team_id: address.teamId, details: JSON.stringify(details), started_at: now, last_activity_at: now });
    this.room.timers.set("window", id, now + settings.windowSeconds * 1000);
    this.room.timers.set("inactivity", id, now + settings.inactivityTimeoutSeconds * 1000);
    return this.store.conversation(id)!;
  }

  private read(who: Identity, seq: number): void {
    const upTo = Math.min(seq, this.store.lastSeq());
    const reader = who.kind === "visitor" ? "visitor" : who.agentId;
    if (!this.store.markRead(reader, upTo)) return;
    this.room.broadcast({ type: "read", reader, seq: upTo }, "agents");
    if (who.kind === "agent") {
      this.room.broadcast({ type: "read", reader: "agent", seq: upTo }, "visitors");
      this.room.syncHub();
    }
  }

  private async join(who: AgentIdentity): Promise<void> {
    const conv = await this.requireVisible(who);
    // Like leave: a participant added to a closed conversation could never leave it; reopen is the way back.
    if (conv.status === "closed") throw new RoomError("conversation_closed", "This conversation is closed.");
    if (conv.status === "bot" || conv.status === "queued") {
      const outcome = await this.requestFromHub(who, conv, { mode: "take", agentId: who.agentId });
      // Grab mode: managers do not take from the queue, they join as participants (SPEC §1);
      // so do admins who are not in the team (they join every conversation, but take no chats).
      const joinsInstead = !outcome.ok && (outcome.code === "managers_join" || (outcome.code === "not_member" && who.role === "admin"));
      if (!joinsInstead) return throwIfRefused(outcome);
    }
    const now = Date.now();
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      if (this.store.addParticipant(conv.id, who.agentId, who.name, now)) out.push(this.event(conv.id, "joined", `${who.name} joined the conversation`, false, { agentId: who.agentId }, now));
      // Someone who joins without taking it (a manager in grab mode, an admin from outside the
      // team) has entered the chat all the same: the bot steps aside and the team gets it.
      const fresh = this.store.current();
      if (fresh?.id === conv.id && fresh.status === "bot") this.handOverFromBot(fresh, "entered", now, out, who.name);
    });
    if (out.length) this.finish(conv.id, out);
  }

  /**
   * The bot's turn after a customer message in a `bot` conversation (`message`
   * null: the message that started it, answered with the greeting and menu).
   * Within the caller's transaction; the lines go into `out`. Returns the bot
   * when it handed over and has its hand-over line still to say.
   */
  private botTurn(conv: ConversationRow, message: RoomMessage | null, settings: RoomSettings, now: number, out: RoomMessage[]): BotFlow | null {
    const flow = settings.bot;
    // Switched off since the conversation started with it: nobody would ever answer here.
    if (!flow) {
      this.handOverFromBot(conv, "bot_off", now, out);
      return null;
    }
    if (!message) {
      out.push(this.botLine(conv.id, botGreeting(flow), now));
      return null;
    }
    const missesBefore = this.botMisses(conv.id);
    const answer = botAnswer(flow, message.kind === "text" ? message.body : null, missesBefore);
    for (const line of answer.lines) out.push(this.botLine(conv.id, line, now));
    if (answer.misses !== missesBefore) this.store.setMeta(BOT_MISSES, { conversationId: conv.id, misses: answer.misses });
    if (!answer.handover) return null;
    this.handOverFromBot(conv, answer.handover, now, out);
    return flow;
  }

  /**
   * The bot's last line after it handed over: someone is coming, or (nobody in
   * the team can take a chat: outside business hours, nobody online) its away
   * message. The hub is asked after the customer's message is stored, so what
   * they send meanwhile is stored in order and never waits on this call.
   */
  private async announceHandover(conversationId: string, flow: BotFlow): Promise<void> {
    const someoneThere = await this.room.agentsAvailable();
    // Settings cached before the away message existed lack it: the hand-over message stands in.
    const body = someoneThere ? flow.handoverMessage : (flow.awayMessage ?? flow.handoverMessage);
    const line = this.botLine(conversationId, { body, data: null }, Date.now());
    this.room.broadcast({ type: "message", message: line }, "all");
    this.room.scheduleFlush();
    this.room.syncHub();
  }

  /** Answers in a row the bot did not understand in this conversation. */
  private botMisses(conversationId: string): number {
    const counted = this.store.getMeta<{ conversationId: string; misses: number }>(BOT_MISSES);
    return counted?.conversationId === conversationId ? counted.misses : 0;
  }

  /**
   * bot → queued (SPEC §2): the team sees why (the customer's hand-over line,
   * if any, comes from announceHandover), and unless a person just answered,
   * the customer's wait starts now.
   */
  private handOverFromBot(conv: ConversationRow, reason: HandoverReason | "entered", now: number, out: RoomMessage[], agentName = "", waitingSince: number | null = now): void {
    this.store.updateConversation(conv.id, { status: "queued", waiting_since: waitingSince });
    out.push(this.event(conv.id, "handover", HANDED_OVER_BECAUSE[reason](agentName), true, { reason }, now));
  }

  private botLine(conversationId: string, line: BotLine, now: number): RoomMessage {
    return this.store.insertMessage({ conversationId, kind: "text", author: BOT, body: line.body, data: line.data ? { ...line.data } : null, internal: false }, now);
  }

  private async leave(who: AgentIdentity): Promise<void> {
    const conv = await this.requireVisible(who);
    // Leaving a closed conversation would put it back in the queue past every close rule; reopen is the way back.
    if (conv.status === "closed") throw new RoomError("conversation_closed", "This conversation is closed.");
    if (!this.participantIds(conv.id).includes(who.agentId)) throw new RoomError("conflict", "You are not in this conversation.");
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.removeParticipant(conv.id, who.agentId);
      // The assignee leaving puts the conversation back in the queue.
      if (conv.assignee_id === who.agentId) {
        this.store.updateConversation(conv.id, { assignee_id: null, assignee_name: null, status: "queued", avoid_agent_id: who.agentId });
      }
      out.push(this.event(conv.id, "left", `${who.name} left the conversation`, false, { agentId: who.agentId }));
    });
    this.finish(conv.id, out);
  }

  /** take / assign / transfer go through the team hub, which serializes assignment. */
  private async askHub(who: AgentIdentity, ask: HubAsk): Promise<void> {
    const conv = await this.requireVisible(who);
    if (ask.mode !== "take" && !isTeamManager(who, conv.team_id) && !(ask.mode === "transfer" && conv.assignee_id === who.agentId)) {
      throw new RoomError("forbidden", ask.mode === "assign" ? "Only managers assign conversations." : "Only the assignee or a manager can transfer.");
    }
    throwIfRefused(await this.requestFromHub(who, conv, ask));
  }

  /** `summary`: handed to the hub with the request instead of pushed before it (see AssignRequest.summary). */
  private async requestFromHub(who: AgentIdentity, conv: ConversationRow, ask: HubAsk, summary?: ConversationSummary): Promise<RpcResult> {
    // The hub must know the conversation (and its latest state) before it can hand it out.
    if (!summary) await this.room.hubUpToDate();
    const result = await this.room.hub(conv.team_id).assign({
      conversationId: conv.id,
      roomId: this.room.address().roomId,
      agent: { id: ask.agentId, name: ask.agentId === who.agentId ? who.name : "" },
      by: who,
      mode: ask.mode,
      note: ask.note,
      summary,
    });
    // RPC results hold their call open until disposed (and would delay this room's eviction).
    const outcome: RpcResult = result.ok ? { ok: true } : { ok: false, code: result.code, message: result.message };
    (result as Partial<Disposable>)[Symbol.dispose]?.();
    return outcome;
  }

  private async transferToTeam(who: AgentIdentity, teamId: string, note?: string): Promise<void> {
    const conv = await this.requireActive(who);
    // As for a transfer to an agent: the assignee or a manager, not any participant.
    if (conv.assignee_id !== who.agentId && !isTeamManager(who, conv.team_id)) throw new RoomError("forbidden", "Only the assignee or a manager can transfer.");
    if (teamId === conv.team_id) throw new RoomError("conflict", "The conversation is already with that team.");
    const team = await this.env.DB.prepare("SELECT name FROM teams WHERE id = ?").bind(teamId).first<{ name: string }>();
    if (!team) throw new RoomError("not_found", "That team does not exist.");
    const fresh = this.store.conversation(conv.id)!;
    if (fresh.status === "closed") throw new RoomError("conversation_closed", "This conversation is closed.");
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      for (const p of this.store.participants(conv.id)) this.store.removeParticipant(conv.id, p.id);
      // From the bot, the customer starts waiting for a person now (the queue counts from here).
      const fromBot = fresh.status === "bot" ? { waiting_since: Date.now() } : {};
      this.store.updateConversation(conv.id, { team_id: teamId, status: "queued", assignee_id: null, assignee_name: null, avoid_agent_id: null, mentioned: "[]", ...fromBot });
      out.push(this.event(conv.id, "transferred", `${who.name} transferred the conversation to ${team.name}${note ? `: ${note}` : ""}`, true, { teamId, note: note ?? null }));
    });
    // Finished before the await below, so the old team's agents are gone (membership is enough
    // to tell) before anything else is said; then the new team's settings, and its visibility.
    this.finish(conv.id, out, { alsoTeams: [fresh.team_id] });
    await this.room.settings(true); // the new team's timers apply from now on
    this.room.dropAgentsWhoCannotSee();
  }

  private async setStatus(who: AgentIdentity, status: "open" | "pending"): Promise<void> {
    const conv = await this.requireActive(who);
    if (conv.status === status) return;
    if (!(conv.status === "open" && status === "pending") && !(conv.status === "pending" && status === "open")) {
      throw new RoomError("conflict", `A ${conv.status} conversation cannot become ${status}.`);
    }
    const settings = await this.room.settings();
    const now = Date.now();
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, { status, pending_since: status === "pending" ? now : null });
      if (status === "pending") this.room.timers.set("pending", conv.id, now + settings.pendingTimeoutSeconds * 1000);
      else {
        this.room.timers.clear("pending", conv.id);
        // Open again with the customer still unanswered: the response time runs again.
        if (conv.waiting_since !== null && conv.assignee_id) this.startResponseTime(conv.id, settings, now);
      }
      out.push(this.event(conv.id, "status", `${who.name} set the conversation to ${status}`, true, { status }, now));
    });
    this.finish(conv.id, out);
  }

  private async closeByAgent(who: AgentIdentity, f: Frame<"close">): Promise<void> {
    const conv = await this.requireActive(who);
    this.close(conv, f.reason, f.comment ?? null, who.name, f.sendFeedback);
  }

  /** Closes with a reason; idempotent (a closed conversation stays as it is). */
  close(conv: ConversationRow, reason: CloseReason, comment: string | null, byName: string | null, sendFeedback = false): void {
    const fresh = this.store.conversation(conv.id);
    if (!fresh || fresh.status === "closed") return;
    const now = Date.now();
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, {
        status: "closed",
        close_reason: reason,
        close_comment: comment,
        closed_at: now,
        waiting_since: null,
        pending_since: null,
        mentioned: "[]",
        csat_requested: sendFeedback ? 1 : 0,
      });
      for (const kind of CONVERSATION_TIMERS) this.room.timers.clear(kind, conv.id);
      // Lines both sides see carry nothing the customer may not: the reason is in the internal line below.
      out.push(this.event(conv.id, "closed", "The conversation was closed", false, {}, now));
      out.push(this.event(conv.id, "close_reason", `${byName ?? "Edgedesk"} closed the conversation (${reason})${comment ? `: ${comment}` : ""}`, true, { reason, comment }, now));
      if (sendFeedback) out.push(this.event(conv.id, "csat_requested", "How did we do? Rate this conversation from 1 to 5.", false, {}, now));
    });
    this.finish(conv.id, out);
    this.room.scheduleFlush(true);
  }

  private async reopen(who: AgentIdentity): Promise<void> {
    const conv = await this.requireVisible(who);
    if (conv.status !== "closed") throw new RoomError("conflict", "The conversation is not closed.");
    const settings = await this.room.settings();
    const now = Date.now();
    const windowEnds = (conv.last_customer_at ?? conv.started_at) + settings.windowSeconds * 1000;
    if (now >= windowEnds) throw new RoomError("window_closed", "The messaging window has closed; the customer has to write again.");
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, { status: "queued", close_reason: null, close_comment: null, closed_at: null, assignee_id: null, assignee_name: null, last_activity_at: now });
      this.room.timers.set("window", conv.id, windowEnds);
      this.room.timers.set("inactivity", conv.id, now + settings.inactivityTimeoutSeconds * 1000);
      out.push(this.event(conv.id, "reopened", `${who.name} reopened the conversation`, false, {}, now));
    });
    this.finish(conv.id, out, { tellHub: false });
    // closed → open with the reopening agent (SPEC §2): the hub gets the conversation back and
    // the agent's take in one request, so auto assignment cannot hand it to someone else first,
    // and the hub's rules (membership, capacity) hold. Refused, it waits in the queue.
    const summary = this.room.summaryForHub();
    let outcome: RpcResult | null = null;
    try {
      if (summary) outcome = await this.requestFromHub(who, conv, { mode: "take", agentId: who.agentId }, summary);
    } finally {
      if (!outcome?.ok) this.room.syncHub(true);
    }
  }

  private async critical(who: AgentIdentity, f: Frame<"critical">): Promise<void> {
    const conv = await this.requireVisible(who);
    if (f.on && conv.status !== "open") throw new RoomError("conflict", "Only an open conversation can be marked critical.");
    await this.update(who, { critical: f.on ? 1 : 0, critical_comment: f.on ? (f.comment ?? null) : null }, "critical", f.on ? `${who.name} marked the conversation critical${f.comment ? `: ${f.comment}` : ""}` : `${who.name} cleared the critical mark`);
  }

  /** Flag, rename, tags, critical: a field change plus an internal event line. */
  private async update(who: AgentIdentity, changes: Partial<ConversationRow>, event: string, body: string): Promise<void> {
    const conv = await this.requireVisible(who);
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, changes);
      out.push(this.event(conv.id, event, body, true, { ...changes }));
    });
    this.finish(conv.id, out);
  }

  private async merge(who: AgentIdentity, fromId: string): Promise<void> {
    const target = await this.requireActive(who);
    const source = this.store.conversation(fromId);
    // Only one the agent may read (an earlier conversation may be another team's, or a colleague's).
    const readable = this.room.readableConversations(who);
    if (!source || source.merged_into || (readable && !readable.includes(source.id))) throw new RoomError("not_found", "That conversation is not in this room.");
    if (source.id === target.id) throw new RoomError("conflict", "A conversation cannot be merged into itself.");
    if (source.status !== "closed") throw new RoomError("conflict", "Close the other conversation before merging it.");
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      const moved = this.store.moveMessages(source.id, target.id);
      this.store.updateConversation(source.id, { merged_into: target.id });
      this.store.updateConversation(target.id, { started_at: Math.min(source.started_at, target.started_at) });
      out.push(this.event(target.id, "merged", `${who.name} merged an earlier conversation (${moved} messages) into this one`, true, { from: source.id, moved }));
    });
    this.finish(target.id, out);
  }

  private csat(f: Frame<"csat">): void {
    const conv = this.store.allConversations().reverse().find((c) => c.csat_requested && c.csat_score === null && !c.merged_into);
    if (!conv) throw new RoomError("conflict", "No feedback was asked for.");
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, { csat_score: f.score, csat_comment: f.comment ?? null });
      out.push(this.event(conv.id, "csat", `The customer rated the conversation ${f.score}/5${f.comment ? `: ${f.comment}` : ""}`, true, { score: f.score, comment: f.comment ?? null }));
    });
    this.finish(conv.id, out);
    this.room.scheduleFlush(true);
  }

  // ───────────── from the hub ─────────────

  applyAssignment(req: AssignRequest): AssignResult {
    const conv = this.store.conversation(req.conversationId);
    // A refusal tells the hub how things stand, so its index heals (see AssignResult).
    const refuse = (message: string): AssignResult => ({ ok: false, code: "conflict", message, summary: this.store.current()?.id === req.conversationId ? (this.room.summaryForHub() ?? undefined) : undefined });
    if (!conv || conv.merged_into || conv.status === "closed") return refuse("The conversation is no longer open.");
    if (req.teamId !== conv.team_id) return refuse("The conversation belongs to another team now.");
    if ((req.mode === "take" || req.mode === "auto") && conv.status !== "queued" && conv.status !== "bot") return refuse("Someone else already has this conversation.");
    if (conv.assignee_id === req.agent.id) return { ok: true, summary: this.room.summaryForHub() ?? undefined };
    const now = Date.now();
    const settings = this.room.cachedSettings();
    const previous = conv.assignee_id ? { id: conv.assignee_id, name: conv.assignee_name } : null;
    const fromQueue = conv.status === "queued" || conv.status === "bot";
    // Taken from the bot, the customer now waits for the person who took it to write.
    const fromBot = conv.status === "bot";
    const waitingSince = fromBot ? now : conv.waiting_since;
    const out: RoomMessage[] = [];
    this.store.transaction(() => {
      this.store.updateConversation(conv.id, {
        assignee_id: req.agent.id,
        assignee_name: req.agent.name,
        status: conv.status === "pending" ? "pending" : "open",
        avoid_agent_id: null,
        ...(fromBot ? { waiting_since: now } : {}),
      });
      this.store.addParticipant(conv.id, req.agent.id, req.agent.name, now);
      if (req.mode === "transfer" && previous) this.store.removeParticipant(conv.id, previous.id);
      if (req.mode === "transfer") {
        out.push(this.event(conv.id, "transferred", `${req.by?.name ?? "Edgedesk"} transferred the conversation to ${req.agent.name}${req.note ? `: ${req.note}` : ""}`, true, { agentId: req.agent.id, from: previous?.id ?? null, note: req.note ?? null }, now));
      }
      out.push(this.event(conv.id, "assigned", `${req.agent.name} joined the conversation`, false, { agentId: req.agent.id }, now));
      // A new assignee gets the full response time for a customer already waiting.
      if (waitingSince !== null) this.startResponseTime(conv.id, settings, now);
    });
    // The hub gets the new summary in the answer, not in a second call. A hand-over from the
    // queue comes in bursts (a whole queue when agents come online): it does not arm the
    // archive flush itself but rides with the conversation's next one (see finish).
    this.finish(conv.id, out, { tellHub: false, archiveSoon: !fromQueue });
    return { ok: true, summary: this.room.summaryForHub() ?? undefined };
  }

  requeue(conversationId: string, agentId: string, reason: RequeueReason): boolean {
    const conv = this.store.conversation(conversationId);
    if (!conv || conv.status === "closed" || conv.merged_into || conv.assignee_id !== agentId) return false;
    const out: RoomMessage[] = [];
    const name = conv.assignee_name ?? "The agent";
    this.store.transaction(() => {
      this.store.removeParticipant(conv.id, agentId);
      this.store.updateConversation(conv.id, { assignee_id: null, assignee_name: null, status: "queued", pending_since: null, avoid_agent_id: reason === "timeout" ? agentId : null });
      this.room.timers.clear("response", conv.id);
      this.room.timers.clear("pending", conv.id);
      out.push(this.event(conv.id, "requeued", REQUEUED_BECAUSE[reason](name), true, { agentId, reason }));
    });
    this.finish(conv.id, out);
    return true;
  }

  // ───────────── timers ─────────────

  /** Idempotent: each handler re-reads the conversation and does nothing if the moment has passed. */
  async onTimer(timer: DueTimer): Promise<void> {
    const conv = this.store.conversation(timer.key);
    if (!conv || conv.status === "closed" || conv.merged_into) return;
    const settings = this.room.cachedSettings() ?? (await this.room.settings());
    const now = Date.now();
    const later = (due: number) => this.room.timers.set(timer.kind, conv.id, due);
    switch (timer.kind) {
      case "window": {
        const due = (conv.last_customer_at ?? conv.started_at) + settings.windowSeconds * 1000;
        if (now < due) return later(due);
        if (conv.flagged) return later(now + settings.windowSeconds * 1000); // flagged: never archived by the window
        return this.close(conv, "expired", "The messaging window closed", null);
      }
      case "inactivity": {
        const due = conv.last_activity_at + settings.inactivityTimeoutSeconds * 1000;
        if (now < due) return later(due);
        if (conv.flagged) return later(now + settings.inactivityTimeoutSeconds * 1000);
        // Pending waits on the customer: its own timeout (SPEC §4, 48 h by default) decides, not inactivity.
        if (conv.status === "pending") return later(now + settings.inactivityTimeoutSeconds * 1000);
        return this.close(conv, "expired", "No activity", null);
      }
      case "pending": {
        if (conv.status !== "pending" || conv.pending_since === null) return;
        const due = conv.pending_since + settings.pendingTimeoutSeconds * 1000;
        if (now < due) return later(due);
        // The customer never came back to a question we asked them.
        return this.close(conv, "abandoned", "No reply from the customer while pending", null);
      }
      case "response": {
        const timeout = settings.agentResponseTimeoutSeconds;
        if (!timeout || conv.waiting_since === null || !conv.assignee_id || conv.status !== "open") return;
        const due = conv.waiting_since + timeout * 1000;
        if (now < due) return later(due);
        // Flagged: not reassigned (SPEC §4), but looked at again, so unflagging while the customer still waits counts.
        if (conv.flagged) return later(now + timeout * 1000);
        // "Reassigned to another available agent": with nobody else, it stays (the desk shows it
        // overdue) and is looked at again, instead of going round the queue back to the same agent.
        const agentId = conv.assignee_id;
        if (!(await this.couldReassign(conv, agentId))) return later(now + timeout * 1000);
        // The agent may have answered while the team was asked: requeue checks the assignee, this the rest.
        const fresh = this.store.conversation(conv.id);
        if (fresh?.status !== "open" || fresh.waiting_since !== conv.waiting_since || fresh.flagged) return;
        this.requeue(conv.id, agentId, "timeout");
        return;
      }
    }
  }

  // ───────────── helpers ─────────────

  /** The assignee's time to answer (SPEC §4) starts now, when the team has a response timeout. */
  private startResponseTime(conversationId: string, settings: RoomSettings | null, now: number): void {
    if (settings?.agentResponseTimeoutSeconds) this.room.timers.set("response", conversationId, now + settings.agentResponseTimeoutSeconds * 1000);
  }

  private event(conversationId: string, event: string, body: string, internal: boolean, data: Record<string, unknown> = {}, now = Date.now()): RoomMessage {
    const message: NewMessage = { conversationId, kind: "event", author: SYSTEM, body, data: { event, ...data }, internal };
    return this.store.insertMessage(message, now);
  }

  /**
   * After a state change: fan out the new lines and the conversation, tell the
   * hub now (unless the hub asked: it gets the summary in its answer), archive
   * soon. `archiveSoon: false` leaves the change for the next flush: the next
   * line either side writes, any other state change, or the close (which
   * flushes at once), so it reaches D1 later but is never left out.
   */
  private finish(conversationId: string, messages: RoomMessage[], { alsoTeams = [], tellHub = true, archiveSoon = true }: { alsoTeams?: string[]; tellHub?: boolean; archiveSoon?: boolean } = {}): void {
    for (const m of messages) this.room.broadcast({ type: "message", message: m }, m.internal ? "agents" : "all");
    const row = this.store.conversation(conversationId);
    if (row) this.emitConversation(row);
    // A state change (assigned, transferred, left) may hide the conversation from some open sockets.
    this.room.dropAgentsWhoCannotSee();
    if (archiveSoon) this.room.scheduleFlush();
    if (tellHub) this.room.syncHub(true, alsoTeams);
  }

  private emitConversation(row: ConversationRow): void {
    // Snapshots are built only for an audience that is there.
    this.room.broadcast(() => ({ type: "conversation", conversation: this.snapshot(row) }), "agents");
    this.room.broadcast(() => ({ type: "conversation", conversation: this.snapshot(row, true) }), "visitors");
  }

  private participantIds(conversationId: string): string[] {
    return this.store.participants(conversationId).map((p) => p.id);
  }

  private async requireVisible(who: AgentIdentity): Promise<ConversationRow> {
    const conv = this.store.current();
    if (!conv) throw new RoomError("no_conversation", "There is no conversation in this room yet.");
    const settings = await this.room.settings();
    if (!canSee(who, conv, this.room.address().teamId, settings.visibility, this.participantIds(conv.id))) {
      throw new RoomError("forbidden", "You cannot see this conversation.");
    }
    return this.store.current()!;
  }

  /** Visible, not closed, and the agent is the assignee, a participant or a manager. */
  private async requireActive(who: AgentIdentity): Promise<ConversationRow> {
    const conv = await this.requireVisible(who);
    if (conv.status === "closed") throw new RoomError("conversation_closed", "This conversation is closed.");
    if (!canActIn(who, conv, this.participantIds(conv.id))) throw new RoomError("forbidden", "Join the conversation first.");
    return conv;
  }

  /** Could someone other than `agentId` take the conversation now? Unreachable hub: yes (requeue, as before). */
  private async couldReassign(conv: ConversationRow, agentId: string): Promise<boolean> {
    try {
      return await this.room.hub(conv.team_id).couldReassign(conv.id, agentId);
    } catch (err) {
      console.error(JSON.stringify({ level: "warn", msg: "couldReassign failed; requeueing", teamId: conv.team_id, error: String(err) }));
      return true;
    }
  }
}
