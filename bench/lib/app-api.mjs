// The app's HTTP API as the benchmark uses it: sign in as the seeded admin,
// invite agents and sign them in, start visitor sessions. Only through the
// public API, the way the desk and the widget do it.
import { ADMIN_EMAIL } from "../../scripts/local.mjs";

const AGENT_PASSWORD = "bench-password-0123";

export class AppApi {
  constructor(url) {
    this.url = url;
    this.wsUrl = url.replace(/^http/, "ws");
    this.ipCounter = 0;
  }

  /**
   * A fresh client address per call. The session endpoint allows 30 per
   * minute per address (cf-connecting-ip); wrangler dev passes the header on.
   */
  nextIp() {
    const n = ++this.ipCounter;
    return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  }

  async call(method, path, { json, cookie, ip, bearer } = {}) {
    const headers = { "cf-connecting-ip": ip ?? this.nextIp() };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    if (cookie) headers.cookie = cookie;
    // State changes with a session cookie must come from our own origin.
    if (method !== "GET") headers.origin = this.url;
    let res;
    let text;
    for (let attempt = 1; ; attempt++) {
      // wrangler dev restarts the Worker when source files change: its proxy then answers 503
      // or drops the connection. Repeating is harmless for what the bench sends in bulk (sends
      // carry a client id, a session is just a new visitor); a repeated invite would fail with 409.
      try {
        res = await fetch(`${this.url}/api/v1${path}`, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
        text = await res.text();
      } catch (err) {
        if (attempt === 4) throw err;
        res = null;
      }
      if (res && (res.status !== 503 || !text.includes("restarted mid-request") || attempt === 4)) break;
      this.restarts = (this.restarts ?? 0) + 1;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
    return { body, res };
  }

  async login(email, password) {
    const { res } = await this.call("POST", "/auth/login", { json: { email, password } });
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    if (!cookie.startsWith("edgedesk_session=")) throw new Error(`login as ${email} gave no session cookie`);
    return cookie;
  }

  loginAdmin(password) {
    return this.login(ADMIN_EMAIL, password);
  }

  /** Invites an agent into the team, sets the password from the invite link, signs in. */
  async createAgent(adminCookie, { email, name, teamId, capacity }) {
    const { body } = await this.call("POST", "/agents", { cookie: adminCookie, json: { email, name, role: "agent", capacity, teams: [{ teamId, role: "agent" }] } });
    const token = new URL(body.inviteUrl).hash.match(/token=([^&]+)/)?.[1];
    if (!token) throw new Error(`invite for ${email} has no token: ${body.inviteUrl}`);
    await this.call("POST", "/auth/set-password", { json: { token, password: AGENT_PASSWORD } });
    return { id: body.agent.id, name, cookie: await this.login(email, AGENT_PASSWORD) };
  }

  async firstTeamAndInbox(adminCookie) {
    const teams = (await this.call("GET", "/teams", { cookie: adminCookie })).body.items;
    const inboxes = (await this.call("GET", "/inboxes", { cookie: adminCookie })).body.items;
    const inbox = inboxes.find((i) => i.kind === "web");
    if (!teams.length || !inbox) throw new Error("the seeded team and web inbox are missing");
    return { teamId: inbox.teamId, inboxId: inbox.id };
  }

  patchTeam(adminCookie, teamId, settings) {
    return this.call("PATCH", `/teams/${teamId}`, { cookie: adminCookie, json: { settings } });
  }

  /** A new widget visitor: { token, roomId }. */
  async visitor(inboxId) {
    const { body } = await this.call("POST", `/widget/${inboxId}/session`, { json: {} });
    return { token: body.token, roomId: body.roomId };
  }

  /** A visitor message over the room API (what an integration does; same room code path as the socket's `send`). */
  visitorSend(roomId, token, clientId, body) {
    return this.call("POST", `/rooms/${encodeURIComponent(roomId)}/messages`, { bearer: token, json: { clientId, body } });
  }

  visitorSocketUrl(token, after = 0) {
    return `${this.wsUrl}/ws/visitor?token=${encodeURIComponent(token)}&after=${after}`;
  }
  roomSocketUrl(roomId, after = 0) {
    return `${this.wsUrl}/ws/room/${encodeURIComponent(roomId)}?after=${after}`;
  }
  teamSocketUrl(teamId) {
    return `${this.wsUrl}/ws/team/${encodeURIComponent(teamId)}`;
  }
}
