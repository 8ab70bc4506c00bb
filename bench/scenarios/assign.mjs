// Assignment throughput: 1,000 chats wait in a team's queue while its agents
// sit at their desks on a break; then every agent switches to online at once
// and the clock runs until the team hub has reported each of the 1,000
// conversations as assigned — that is, until each room applied its
// assignment and synced back to the hub, as the desk list shows it.
//
// The desks are opened before the queue fills because a desk socket's first
// connect makes an agent online (hub-store ensurePresence); opening desks is
// then not inside the timed part, only the hub's assignment work is. A team
// and an inbox of their own keep the queue at exactly these chats.
import { closeAll, mapLimit, now, openSocket, round, sleep, waitFor } from "../lib/sockets.mjs";

export async function assignment(api, adminCookie, { chats = 1000, agents = 10, capacity = 100, concurrency = 16, coldWaitMs = 12_000, timeoutMs = 60_000, log }) {
  const stamp = Date.now().toString(36);
  const team = (await api.call("POST", "/teams", { cookie: adminCookie, json: { name: `Bench assignment ${stamp}`, settings: { assignmentMode: "auto", defaultCapacity: capacity } } })).body;
  const inbox = (await api.call("POST", "/inboxes", { cookie: adminCookie, json: { name: `Bench assignment ${stamp}`, kind: "web", teamId: team.id } })).body;
  const members = [];
  for (let i = 0; i < agents; i++) members.push(await api.createAgent(adminCookie, { email: `assign${i}-${stamp}@bench.local`, name: `Assign ${i}`, teamId: team.id, capacity }));

  // The admin watches the desk list; admins are not team members, so they take no chats.
  const latest = new Map(); // roomId → { status, assigneeId }
  const presence = new Map(); // agentId → status
  let reassigned = 0;
  const hubErrors = {};
  const watch = (data) => {
    const f = JSON.parse(data);
    if (f.type === "snapshot") {
      for (const c of f.conversations) latest.set(c.roomId, { status: c.status, assigneeId: c.assigneeId });
      for (const p of f.presence) presence.set(p.agentId, p.status);
    } else if (f.type === "conversation" || f.type === "changes") {
      for (const c of f.type === "changes" ? f.conversations : [f.conversation]) {
        const prev = latest.get(c.roomId);
        if (prev?.assigneeId && c.assigneeId && prev.assigneeId !== c.assigneeId) reassigned++;
        latest.set(c.roomId, { status: c.status, assigneeId: c.assigneeId });
      }
    } else if (f.type === "presence") presence.set(f.presence.agentId, f.presence.status);
    else if (f.type === "error") hubErrors[f.code] = (hubErrors[f.code] ?? 0) + 1;
  };
  // The desks only listen for refusals; the observer reads the list for everyone.
  const deskErrors = (data) => {
    if (data.startsWith('{"type":"error"')) watch(data);
  };
  const observer = await openSocket(api.teamSocketUrl(team.id), { headers: { cookie: adminCookie }, ready: (d) => d.startsWith('{"type":"snapshot"'), onFrame: watch });

  // Desks open first, then straight to a break: present, not available.
  const deskOpen = now();
  const desks = await Promise.all(
    members.map(async (a) => {
      const desk = await openSocket(api.teamSocketUrl(team.id), { headers: { cookie: a.cookie }, ready: (d) => d.startsWith('{"type":"snapshot"'), onFrame: deskErrors });
      desk.ws.send(JSON.stringify({ type: "status", status: "break" }));
      return desk;
    }),
  );
  const desksOpenMs = now() - deskOpen;
  if (!(await waitFor(() => members.every((a) => presence.get(a.id) === "break"), 10_000))) throw new Error("the hub did not report the agents on a break");

  const rooms = new Set();
  const seedStart = now();
  await mapLimit(Array.from({ length: chats }, (_, i) => i), concurrency, async (i) => {
    const { token, roomId } = await api.visitor(inbox.id);
    rooms.add(roomId);
    await api.visitorSend(roomId, token, `assign_${i}_${stamp}`, "Hello, is anyone there?");
  });
  const seedMs = now() - seedStart;
  const ours = () => [...rooms].map((r) => latest.get(r));
  const queuedInHub = await waitFor(() => ours().every((c) => c?.status === "queued" && !c.assigneeId), 30_000, 50);
  const queued = ours().filter((c) => c?.status === "queued" && !c.assigneeId).length;
  // Each room archives its first message to D1 a few seconds after it (FLUSH_DELAY_MS); the clock
  // starts once every one of them is in the archive, so the figure is the assignment's own work and
  // not the tail of the seeding.
  const settleStart = now();
  let archived = 0;
  while (now() - settleStart < 30_000) {
    archived = (await api.call("GET", `/conversations?status=queued&inboxId=${inbox.id}&perPage=1`, { cookie: adminCookie })).body.total;
    if (archived >= chats) break;
    await sleep(200);
  }
  const settleMs = now() - settleStart;
  log(`assignment: ${chats} chats queued through the API in ${Math.round(seedMs)} ms; hub lists ${queued} as queued and unassigned; ${archived} archived after ${Math.round(settleMs)} ms more`);
  // Then every room goes cold, as the rooms of customers waiting in a queue do (an object with
  // nothing but hibernatable sockets leaves memory after about 10 s idle; workerd evicts any idle
  // object after 10 s). Started right away, a run would catch a different mix of warm rooms (the
  // latest archived) and cold ones each time, and its figure would swing by a third.
  await sleep(coldWaitMs);

  const t0 = now();
  for (const desk of desks) {
    desk.ws.send(JSON.stringify({ type: "status", status: "online" }));
    desk.ws.send(JSON.stringify({ type: "panel", on: true }));
  }
  const assignedCount = () => ours().filter((c) => c?.assigneeId).length;
  let halfMs = null;
  const done = await waitFor(() => {
    const n = assignedCount();
    if (halfMs === null && n >= chats / 2) halfMs = now() - t0;
    return n >= chats;
  }, timeoutMs, 5);
  const ms = now() - t0;

  const perAgent = {};
  for (const c of ours()) if (c?.assigneeId) perAgent[c.assigneeId] = (perAgent[c.assigneeId] ?? 0) + 1;
  const names = new Map(members.map((a) => [a.id, a.name]));
  await closeAll([observer.ws, ...desks.map((d) => d.ws)]);
  return {
    chats,
    agents,
    capacityPerAgent: capacity,
    seedMs: round(seedMs, 0),
    queuedBeforeAgents: queued,
    queueComplete: queuedInHub,
    archivedBeforeAgents: archived,
    settleMs: round(settleMs, 0),
    coldWaitMs,
    desksOpenMs: round(desksOpenMs, 0),
    halfAssignedMs: round(halfMs, 0),
    assigned: assignedCount(),
    ms: done ? round(ms, 0) : null,
    gaveUpAfterMs: done ? null : round(ms, 0),
    reassigned,
    overCapacity: Object.values(perAgent).filter((n) => n > capacity).length,
    perAgent: Object.fromEntries([...Object.entries(perAgent)].map(([id, n]) => [names.get(id) ?? id, n])),
    hubErrors,
  };
}
