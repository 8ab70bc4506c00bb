// The fan-out load generator, the same for the floor and for our room: a set
// of rooms, each with one sending socket and N listening sockets; the sender
// of each room sends at a fixed rate (open loop: the schedule does not wait
// for answers) and every socket of the room, the sender included, must
// receive every message exactly once. Latency is receive time − send time on
// this process's monotonic clock, per delivery.
import { closeAll, mapLimit, now, openSocket, sleep, waitFor } from "./sockets.mjs";

/**
 * A target says how to reach one room and how to read its frames:
 *   name
 *   room(i, listeners) → { sender: {url, headers}, listeners: [{url, headers}] }
 *   ready(data) → true once the socket is live (undefined: live at open)
 *   classify(data) → { id } for a delivered message, { error } for an error frame, null otherwise
 */
export async function openRooms(target, { rooms, listenersPerRoom, concurrency = 20 }) {
  const set = { target, groups: [], recorder: null };
  const ends = [];
  for (let i = 0; i < rooms; i++) ends.push(await target.room(i, listenersPerRoom));
  for (let i = 0; i < rooms; i++) {
    const group = { index: i, sender: null, probes: [] };
    const endpoints = [ends[i].sender, ...ends[i].listeners];
    // The sender first, so the room exists before its listeners arrive.
    group.sender = await openProbe(set, group, endpoints[0]);
    group.probes.push(group.sender, ...(await mapLimit(endpoints.slice(1), concurrency, (e) => openProbe(set, group, e))));
    set.groups.push(group);
  }
  return set;
}

async function openProbe(set, group, endpoint) {
  const probe = { ws: null, seen: new Set(), duplicated: 0, errors: new Map(), group };
  const { ws } = await openSocket(endpoint.url, {
    headers: endpoint.headers,
    ready: set.target.ready,
    onFrame: (data, at) => onFrame(set, probe, data, at),
  });
  probe.ws = ws;
  return probe;
}

function onFrame(set, probe, data, at) {
  const frame = set.target.classify(data);
  if (!frame) return;
  if (frame.error) {
    probe.errors.set(frame.error, (probe.errors.get(frame.error) ?? 0) + 1);
    return;
  }
  if (probe.seen.has(frame.id)) {
    probe.duplicated++;
    return;
  }
  probe.seen.add(frame.id);
  const rec = set.recorder;
  const sentAt = rec?.sentAt.get(frame.id);
  if (sentAt === undefined) return;
  rec.received++;
  if (rec.measured.has(frame.id)) {
    rec.latencies.push(at - sentAt);
    rec.bytes += data.length;
    rec.measuredReceipts++;
    rec.lastAt = at;
  }
}

/**
 * One timed run over an open room set: `warmupMs` of load that is checked
 * for loss but not timed, then `durationMs` measured, then up to `drainMs`
 * for the last deliveries. Returns the run's figures and its raw latencies.
 */
export async function drive(set, { label, ratePerRoom, durationMs, warmupMs = 1_000, drainMs = 5_000, body = "Hello from the benchmark", cpu }) {
  const rooms = set.groups.length;
  const interval = 1000 / ratePerRoom;
  const rec = { sentAt: new Map(), measured: new Set(), latencies: [], received: 0, measuredReceipts: 0, lastAt: 0, bytes: 0 };
  const plan = [];
  const start = now() + 50;
  for (const g of set.groups) {
    // Rooms are staggered across the interval so sends do not arrive in bursts.
    const offset = (g.index * interval) / rooms;
    for (let k = 0; offset + k * interval < warmupMs + durationMs; k++) {
      const t = offset + k * interval;
      plan.push({ at: start + t, group: g, id: `bench_${label}_${g.index}_${k}`, measured: t >= warmupMs });
    }
  }
  plan.sort((a, b) => a.at - b.at);
  const duplicatedBefore = countDuplicated(set);
  set.recorder = rec;
  const cpuBefore = cpu?.();
  let firstMeasuredAt = null;
  let sendLagMax = 0;
  for (let i = 0; i < plan.length; ) {
    const wait = plan[i].at - now();
    if (wait > 1) await sleep(wait);
    const t = now();
    while (i < plan.length && plan[i].at <= t + 0.5) {
      const p = plan[i++];
      sendLagMax = Math.max(sendLagMax, t - p.at);
      const sentAt = now();
      rec.sentAt.set(p.id, sentAt);
      if (p.measured) {
        rec.measured.add(p.id);
        firstMeasuredAt ??= sentAt;
      }
      p.group.sender.ws.send(JSON.stringify({ type: "send", clientId: p.id, body: `${body} ${p.id}` }));
    }
  }
  const expected = set.groups.reduce((n, g) => n + g.probes.length * plan.filter((p) => p.group === g).length, 0);
  const drained = await waitFor(() => rec.received >= expected, drainMs);
  await sleep(200); // late duplicates, if any, arrive here
  set.recorder = null;
  const cpuAfter = cpu?.();

  let lost = 0;
  for (const g of set.groups) {
    const ids = plan.filter((p) => p.group === g).map((p) => p.id);
    for (const probe of g.probes) for (const id of ids) if (!probe.seen.has(id)) lost++;
  }
  const measuredSent = plan.filter((p) => p.measured).length;
  const seconds = (rec.lastAt - firstMeasuredAt) / 1000;
  return {
    target: set.target.name,
    label,
    rooms,
    socketsPerRoom: set.groups[0].probes.length,
    ratePerRoom,
    durationMs,
    sent: plan.length,
    measuredSent,
    expected,
    received: rec.received,
    lost,
    duplicated: countDuplicated(set) - duplicatedBefore,
    drained,
    sendLagMaxMs: sendLagMax,
    offeredDeliveriesPerSec: rooms * ratePerRoom * set.groups[0].probes.length,
    deliveriesPerSec: seconds > 0 ? rec.measuredReceipts / seconds : 0,
    frameBytes: rec.measuredReceipts ? rec.bytes / rec.measuredReceipts : null,
    // Everything the runtime did meanwhile (alarms, hub calls, archive) over the messages sent.
    cpuMsPerMessage: cpu && cpuBefore.pids === cpuAfter.pids ? {
      runtime: (cpuAfter.runtimeMs - cpuBefore.runtimeMs) / plan.length,
      proxy: (cpuAfter.proxyMs - cpuBefore.proxyMs) / plan.length,
    } : null,
    latencies: rec.latencies,
  };
}

function countDuplicated(set) {
  let n = 0;
  for (const g of set.groups) for (const p of g.probes) n += p.duplicated;
  return n;
}

/** Error frames received by any socket of the set, by code. */
export function errorCounts(set) {
  const out = {};
  for (const g of set.groups) for (const p of g.probes) for (const [code, n] of p.errors) out[code] = (out[code] ?? 0) + n;
  return out;
}

export async function closeRooms(set) {
  if (!set) return;
  await closeAll(set.groups.flatMap((g) => g.probes.map((p) => p.ws)));
}

/** Floor sockets: plain paths, the sent text comes back as is; `store` rooms insert each frame first. */
export function floorTarget(floorUrl, prefix, { store = false } = {}) {
  const ws = floorUrl.replace(/^http/, "ws");
  const endpoint = (i) => ({ url: `${ws}/${store ? "ws-store" : "ws"}/${prefix}-${i}` });
  return {
    name: store ? "floor+store" : "floor",
    async room(i, listeners) {
      return { sender: endpoint(i), listeners: Array.from({ length: listeners }, () => endpoint(i)) };
    },
    ready: undefined,
    classify(data) {
      const f = JSON.parse(data);
      return f.type === "send" ? { id: f.clientId } : null;
    },
  };
}

/** Our rooms: a widget visitor sends; agents listen on their room sockets (session cookies, round robin). */
export function appTarget(api, { inboxId, agentCookies }) {
  return {
    name: "edgedesk",
    async room(_i, listeners) {
      const { token, roomId } = await api.visitor(inboxId);
      return {
        roomId,
        sender: { url: api.visitorSocketUrl(token) },
        listeners: Array.from({ length: listeners }, (_, k) => ({ url: api.roomSocketUrl(roomId), headers: { cookie: agentCookies[k % agentCookies.length] } })),
      };
    },
    // Welcome and the replay come first; `live` means live.
    ready: (data) => data.startsWith('{"type":"live"'),
    classify(data) {
      const f = JSON.parse(data);
      if (f.type === "message") return f.message.clientId ? { id: f.message.clientId } : null;
      if (f.type === "error") return { error: f.code };
      return null;
    },
  };
}
