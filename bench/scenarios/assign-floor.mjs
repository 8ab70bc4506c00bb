// The platform floor for assignment (bench/floor: FloorDispatcher and
// FloorQueuedRoom): one object records a decision per chat, calls every
// chat's object at once over RPC and records each answer; each chat's object,
// woken cold, commits one write and answers. Same count and the same cold
// start as the assignment scenario, so what our hub and rooms add on top of
// waking 1,000 objects on this machine's one runtime thread can be read off.
//
// Several batches are queued first and all go cold in one wait; each is then
// dispatched on its own, GAP apart (the objects the batch before woke leave
// memory meanwhile, as in the app's runs), and the median is the figure.
import { now, percentile, round, sleep } from "../lib/sockets.mjs";

export async function assignmentFloor(floorUrl, { chats = 1000, agents = 10, batches = 3, coldWaitMs = 12_000, gapMs = coldWaitMs, log }) {
  const stamp = Date.now().toString(36);
  const call = async (path) => {
    const res = await fetch(`${floorUrl}${path}?chats=${chats}&agents=${agents}`, { method: "POST", signal: AbortSignal.timeout(60_000) });
    if (!res.ok) throw new Error(`floor ${path}: HTTP ${res.status} ${await res.text()}`);
  };
  const seedStart = now();
  for (let b = 0; b < batches; b++) await call(`/assign-seed/${stamp}-${b}`);
  const seedMs = now() - seedStart;
  // Idle past workerd's 10 s eviction, as the app's rooms are before their hand-over.
  await sleep(coldWaitMs);
  const runsMs = [];
  for (let b = 0; b < batches; b++) {
    if (b) await sleep(gapMs);
    const t0 = now();
    await call(`/assign/${stamp}-${b}`);
    runsMs.push(round(now() - t0, 0));
  }
  const ms = percentile([...runsMs].sort((x, y) => x - y), 50);
  log(`assignment floor: ${batches} × ${chats} cold objects queued in ${Math.round(seedMs)} ms; dispatched in ${runsMs.join(", ")} ms (median ${ms})`);
  return { chats, agents, batches, coldWaitMs, gapMs, seedMs: round(seedMs, 0), runsMs, ms };
}
