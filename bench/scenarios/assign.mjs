// Assignment throughput: 1,000 chats wait in a team's queue while its agents
// sit at their desks on a break; then every agent switches to online at once
// and the clock runs until the team hub has reported each of the 1,000
// conversations as assigned — that is, until each room applied its
// assignment and synced back to the hub, as the desk list shows it.
//
// Like the floor (assign-floor.mjs), several batches are queued first, each
// in a team and inbox of its own (so a queue holds exactly its chats), all go
// cold in one wait, and then each batch is timed on its own, GAP apart; the
// median is the figure. One run alone swung by ±0.3 s from run to run.
//
// The desks are opened before the queue fills because a desk socket's first
// connect makes an agent online (hub-store ensurePresence); opening desks is
// then not inside the timed part, only the hub's assignment work is.
import { closeAll, mapLimit, now, openSocket, percentile, round, sleep, waitFor } from "../lib/sockets.mjs";

export async function assignment(api, adminCookie, { chats = 1000, agents = 10, capacity = 100, batches = 3, concurrency = 16, coldWaitMs = 12_000, gapMs = coldWaitMs, timeoutMs = 60_000, log }) {
  const stamp = Date.now().toString(36);
  const prepared = [];
  const runs = [];
  try {
    for (let b = 0; b < batches; b++) {
      prepared.push(await queueBatch(api, adminCookie, { label: `${stamp}-${b}`, chats, agents, capacity, concurrency, log }));
    }
    // Then every room goes cold, as the rooms of customers waiting in a queue do (an object with
    // nothing but hibernatable sockets leaves memory after about 10 s idle; workerd evicts any idle
    // object after 10 s). Started right away, a run would catch a different mix of warm rooms (the
    // latest archived) and cold ones each time, and its figure would swing by a third.
    await sleep(coldWaitMs);
    for (const [b, batch] of prepared.entries()) {
      // The rooms the run before woke leave memory meanwhile, so each run starts from the same state.
      if (b) await sleep(gapMs);
      const run = await assignBatch(batch, { timeoutMs });
      runs.push(run);
      log(`assignment run ${b + 1}: ${run.assigned} of ${chats} assigned ${run.ms !== null ? `in ${run.ms} ms` : `before giving up at ${run.gaveUpAfterMs} ms`}`);
    }
  } finally {
    await closeAll(prepared.flatMap((p) => p.sockets));
  }

  const done = runs.length === batches && runs.every((r) => r.ms !== null);
  const runsMs = runs.map((r) => r.ms ?? r.gaveUpAfterMs);
  const median = percentile([...runsMs].sort((x, y) => x - y), 50);
  const medianRun = runs.find((r) => (r.ms ?? r.gaveUpAfterMs) === median) ?? runs[0];
  const sum = (key) => runs.reduce((total, r) => total + r[key], 0);
  const merged = (key) => Object.assign({}, ...prepared.map((p) => p[key]));
  return {
    chats,
    agents,
    batches,
    capacityPerAgent: capacity,
    seedMs: round(prepared.reduce((t, p) => t + p.seedMs, 0), 0),
    queuedBeforeAgents: Math.min(...prepared.map((p) => p.queued)),
    queueComplete: prepared.every((p) => p.queueComplete),
    archivedBeforeAgents: Math.min(...prepared.map((p) => p.archived)),
    settleMs: round(Math.max(...prepared.map((p) => p.settleMs)), 0),
    coldWaitMs,
    gapMs,
    desksOpenMs: round(Math.max(...prepared.map((p) => p.desksOpenMs)), 0),
    runsMs,
    halfAssignedMs: medianRun?.halfAssignedMs ?? null,
    assigned: Math.min(...runs.map((r) => r.assigned)),
    ms: done ? median : null,
    gaveUpAfterMs: done ? null : Math.max(...runsMs),
    reassigned: sum("reassigned"),
    overCapacity: sum("overCapacity"),
    perAgent: runs.map((r) => Object.values(r.perAgent)),
    hubErrors: merged("hubErrors"),
  };
}

/** A team of `agents` on a break at their desks, watched by the admin, and `chats` visitors in its queue, archived. */
async function queueBatch(api, adminCookie, { label, chats, agents, capacity, concurrency, log }) {
  const team = (await api.call("POST", "/teams", { cookie: adminCookie, json: { name: `Bench assignment ${label}`, settings: { assignmentMode: "auto", defaultCapacity: capacity } } })).body;
  const inbox = (await api.call("POST", "/inboxes", { cookie: adminCookie, json: { name: `Bench assignment ${label}`, kind: "web", teamId: team.id } })).body;
  const members = [];
  for (let i = 0; i < agents; i++) members.push(await api.createAgent(adminCookie, { email: `assign${i}-${label}@bench.local`, name: `Assign ${i}`, teamId: team.id, capacity }));

  // The admin watches the desk list; admins are not team members, so they take no chats.
  const latest = new Map(); // roomId → { status, assigneeId }
  const presence = new Map(); // agentId → status
  const batch = { members, capacity, latest, reassigned: 0, hubErrors: {}, rooms: new Set(), chats, sockets: [] };
  const watch = (data) => {
    const f = JSON.parse(data);
    if (f.type === "snapshot") {
      for (const c of f.conversations) latest.set(c.roomId, { status: c.status, assigneeId: c.assigneeId });
      for (const p of f.presence) presence.set(p.agentId, p.status);
    } else if (f.type === "conversation" || f.type === "changes") {
      for (const c of f.type === "changes" ? f.conversations : [f.conversation]) {
        const prev = latest.get(c.roomId);
        if (prev?.assigneeId && c.assigneeId && prev.assigneeId !== c.assigneeId) batch.reassigned++;
        latest.set(c.roomId, { status: c.status, assigneeId: c.assigneeId });
      }
    } else if (f.type === "presence") presence.set(f.presence.agentId, f.presence.status);
    else if (f.type === "error") batch.hubErrors[f.code] = (batch.hubErrors[f.code] ?? 0) + 1;
  };
  // The desks only listen for refusals; the observer reads the list for everyone.
  const deskErrors = (data) => {
    if (data.startsWith('{"type":"error"')) watch(data);
  };
  const observer = await openSocket(api.teamSocketUrl(team.id), { headers: { cookie: adminCookie }, ready: (d) => d.startsWith('{"type":"snapshot"'), onFrame: watch });
  batch.sockets.push(observer.ws);

  // Desks open first, then straight to a break: present, not available.
  const deskOpen = now();
  batch.desks = await Promise.all(
    members.map(async (a) => {
      const desk = await openSocket(api.teamSocketUrl(team.id), { headers: { cookie: a.cookie }, ready: (d) => d.startsWith('{"type":"snapshot"'), onFrame: deskErrors });
      batch.sockets.push(desk.ws);
      desk.ws.send(JSON.stringify({ type: "status", status: "break" }));
      return desk;
    }),
  );
  batch.desksOpenMs = now() - deskOpen;
  if (!(await waitFor(() => members.every((a) => presence.get(a.id) === "break"), 10_000))) throw new Error("the hub did not report the agents on a break");

  const seedStart = now();
  await mapLimit(Array.from({ length: chats }, (_, i) => i), concurrency, async (i) => {
    const { token, roomId } = await api.visitor(inbox.id);
    batch.rooms.add(roomId);
    await api.visitorSend(roomId, token, `assign_${i}_${label}`, "Hello, is anyone there?");
  });
  batch.seedMs = now() - seedStart;
  batch.ours = () => [...batch.rooms].map((r) => latest.get(r));
  batch.queueComplete = await waitFor(() => batch.ours().every((c) => c?.status === "queued" && !c.assigneeId), 30_000, 50);
  batch.queued = batch.ours().filter((c) => c?.status === "queued" && !c.assigneeId).length;
  // Each room archives its first message to D1 a few seconds after it (FLUSH_DELAY_MS); the clock
  // starts once every one of them is in the archive, so the figure is the assignment's own work and
  // not the tail of the seeding.
  const settleStart = now();
  batch.archived = 0;
  while (now() - settleStart < 30_000) {
    batch.archived = (await api.call("GET", `/conversations?status=queued&inboxId=${inbox.id}&perPage=1`, { cookie: adminCookie })).body.total;
    if (batch.archived >= chats) break;
    await sleep(200);
  }
  batch.settleMs = now() - settleStart;
  log(`assignment batch ${label}: ${chats} chats queued through the API in ${Math.round(batch.seedMs)} ms; hub lists ${batch.queued} as queued and unassigned; ${batch.archived} archived after ${Math.round(batch.settleMs)} ms more`);
  return batch;
}

/** Every agent of the batch goes online at once; timed until the hub lists all its chats as assigned. */
async function assignBatch(batch, { timeoutMs }) {
  const { chats, capacity, desks, members, ours } = batch;
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
  return {
    ms: done ? round(ms, 0) : null,
    gaveUpAfterMs: done ? null : round(ms, 0),
    halfAssignedMs: round(halfMs, 0),
    assigned: assignedCount(),
    reassigned: batch.reassigned,
    overCapacity: Object.values(perAgent).filter((n) => n > capacity).length,
    perAgent: Object.fromEntries([...Object.entries(perAgent)].map(([id, n]) => [names.get(id) ?? id, n])),
  };
}
