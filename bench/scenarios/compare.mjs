// Floor versus our room on the same topology, client and offered load. Runs
// alternate A B B A (floor, app, app, floor) so a drift in the machine's
// load (other processes, JIT warm-up, GC) weighs on both sides alike; the
// latencies of a side's runs are pooled before taking percentiles.
import { drive } from "../lib/fanout.mjs";
import { percentile, round } from "../lib/sockets.mjs";

// The reference side "store" (the floor plus one durable insert per frame), when present, sits between them.
// `rounds` repeats the whole sequence: a p99 pooled from more runs moves less with one noisy run.
const ORDER = ["floor", "store", "app", "app", "store", "floor"];

export async function compare({ sets, cpu, label, ratePerRoom, durationMs, warmupMs, rounds = 1, log }) {
  const runs = { floor: [], store: [], app: [] };
  const order = Array.from({ length: rounds }, () => ORDER).flat();
  for (const [i, side] of order.filter((side) => sets[side]).entries()) {
    const run = await drive(sets[side], { label: `${label}-${side}-${i}`, ratePerRoom, durationMs, warmupMs, cpu: cpu[side] });
    log(`${label} ${side}: p50 ${fmt(percentile(sorted(run.latencies), 50))} ms, p99 ${fmt(percentile(sorted(run.latencies), 99))} ms, ${Math.round(run.deliveriesPerSec)} deliveries/s, lost ${run.lost}, duplicated ${run.duplicated}`);
    runs[side].push(run);
  }
  const floor = summarize(runs.floor);
  const app = summarize(runs.app);
  const store = runs.store.length ? summarize(runs.store) : null;
  return {
    floor,
    ...(store ? { store, store_p50_ratio: ratio(store.p50Ms, floor.p50Ms), store_p99_ratio: ratio(store.p99Ms, floor.p99Ms) } : {}),
    app,
    p50_ratio: ratio(app.p50Ms, floor.p50Ms),
    p99_ratio: ratio(app.p99Ms, floor.p99Ms),
    deliveries_ratio: ratio(app.deliveriesPerSec, floor.deliveriesPerSec),
    lost: app.lost,
    duplicated: app.duplicated,
  };
}

/**
 * The highest per-room rate each side sustains on the same sockets: steps up
 * until the achieved delivery rate falls below 95% of the offered one or a
 * message is not delivered within the drain. Stops at the first miss, so an
 * overloaded side is overloaded once, briefly.
 */
export async function capacity({ set, cpu, label, rates, stepMs, log }) {
  const steps = [];
  let sustained = null;
  for (const rate of rates) {
    const run = await drive(set, { label: `${label}-${rate}`, ratePerRoom: rate, durationMs: stepMs, warmupMs: 500, drainMs: 4_000, cpu });
    const lat = sorted(run.latencies);
    const ok = run.drained && run.lost === 0 && run.deliveriesPerSec >= 0.95 * run.offeredDeliveriesPerSec;
    steps.push({
      ratePerRoom: rate,
      messagesPerSec: rate * run.rooms,
      offeredDeliveriesPerSec: run.offeredDeliveriesPerSec,
      deliveriesPerSec: round(run.deliveriesPerSec, 0),
      p50Ms: round(percentile(lat, 50)),
      p99Ms: round(percentile(lat, 99)),
      cpuMsPerMessage: run.cpuMsPerMessage && round(run.cpuMsPerMessage.runtime),
      sustained: ok,
    });
    log(`${label}: ${rate}/s per room → ${Math.round(run.deliveriesPerSec)} of ${run.offeredDeliveriesPerSec} deliveries/s, p99 ${fmt(percentile(lat, 99))} ms${ok ? "" : " (not sustained)"}`);
    if (!ok) break;
    sustained = rate;
  }
  const rooms = set.groups.length;
  return { steps, maxSustainedRatePerRoom: sustained, maxSustainedMessagesPerSec: sustained && sustained * rooms, topped: sustained === rates.at(-1) };
}

function summarize(runs) {
  const lat = sorted(runs.flatMap((r) => r.latencies));
  const cpu = runs.map((r) => r.cpuMsPerMessage).filter(Boolean);
  const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
  return {
    runs: runs.length,
    rooms: runs[0].rooms,
    socketsPerRoom: runs[0].socketsPerRoom,
    ratePerRoom: runs[0].ratePerRoom,
    durationMsPerRun: runs[0].durationMs,
    messagesSent: sum("sent"),
    deliveriesExpected: sum("expected"),
    deliveriesReceived: sum("received"),
    latencySamples: lat.length,
    p50Ms: round(percentile(lat, 50)),
    p90Ms: round(percentile(lat, 90)),
    p99Ms: round(percentile(lat, 99)),
    maxMs: round(lat.at(-1) ?? null),
    offeredDeliveriesPerSec: runs[0].offeredDeliveriesPerSec,
    deliveriesPerSec: round(sum("deliveriesPerSec") / runs.length, 0),
    frameBytes: round(sum("frameBytes") / runs.length, 0),
    lost: sum("lost"),
    duplicated: sum("duplicated"),
    allDrained: runs.every((r) => r.drained),
    maxSendLagMs: round(Math.max(...runs.map((r) => r.sendLagMaxMs))),
    perRun: runs.map((r) => {
      const l = sorted(r.latencies);
      return { p50Ms: round(percentile(l, 50)), p99Ms: round(percentile(l, 99)) };
    }),
    cpuMsPerMessage: cpu.length ? round(cpu.reduce((n, c) => n + c.runtime, 0) / cpu.length) : null,
    proxyCpuMsPerMessage: cpu.length ? round(cpu.reduce((n, c) => n + c.proxy, 0) / cpu.length) : null,
  };
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const ratio = (a, b) => (a === null || b === null || b === 0 ? null : round(a / b));
const fmt = (x) => (x === null ? "–" : x.toFixed(1));
