// `npm run bench`: starts the app and the platform floor (bench/floor) on
// 127.0.0.1 in the same run, measures fan-out, a 1,000-socket room,
// assignment of 1,000 queued chats, a 1,000-message resume and memory per
// idle socket, and writes bench/REPORT.md and bench/results.json. Bounded:
// every phase has time limits and the whole run stops itself.
//
// BENCH_ONLY=fanout,capacity,bigroom,resume,assign runs a subset (for work on
// one part); its report goes to bench/out/subset so it never replaces the full one.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, relative } from "node:path";
import { newPersistDir, prepare, ROOT, startServer } from "../scripts/local.mjs";
import { AppApi } from "./lib/app-api.mjs";
import { appTarget, closeRooms, errorCounts, floorTarget, openRooms } from "./lib/fanout.mjs";
import { freePort, startFloor, stop, workerdCpu, workerdMemory, workerdProcesses, workerdVersion } from "./lib/procs.mjs";
import { connectInspector } from "./lib/inspector.mjs";
import { renderReport, targets } from "./lib/report.mjs";
import { round, sleep } from "./lib/sockets.mjs";
import { assignment } from "./scenarios/assign.mjs";
import { assignmentFloor } from "./scenarios/assign-floor.mjs";
import { capacity, compare } from "./scenarios/compare.mjs";
import { resume } from "./scenarios/resume.mjs";

const CONFIG = {
  // 5 messages/s per room is 50 messages/s into 10 objects, 300 deliveries/s:
  // far below the floor's local capacity, so the floor is not the bottleneck.
  // Two rounds of the A B B A sequence: 4 runs per side, so one noisy run moves the p99 less.
  fanout: { rooms: 10, agentsPerRoom: 5, ratePerRoom: 5, durationMs: 8_000, warmupMs: 1_000, rounds: 2 },
  capacity: { rates: [5, 10, 20, 40, 80], stepMs: 3_000 },
  bigroom: { sockets: 1_000, ratePerRoom: 2, durationMs: 12_000, warmupMs: 1_000, settleMs: 2_000 },
  resume: { messages: 1_000, repeats: 5 },
  assign: { chats: 1_000, agents: 10, capacity: 100, timeoutMs: 60_000 },
  /** The whole run, whatever happens. */
  hardLimitMs: 14 * 60_000,
};
const PHASES = ["fanout", "capacity", "bigroom", "resume", "assign"];
/**
 * Both wrangler dev processes run without the local trace collector (wrangler
 * dev's X_LOCAL_OBSERVABILITY, on by default): it stores a trace of every
 * event and storage call in a SQLite database inside the same runtime, which
 * production does not do on the object's thread. It costs more per storage
 * call, so it would weigh on the app more than on the floor.
 */
const SERVER_ENV = { X_LOCAL_OBSERVABILITY: "false" };
/**
 * State directories on tmpfs when the machine has one (BENCH_STATE_DIR to
 * choose): on a disk, SQLite syncs every commit to the device, and the output
 * gate holds a room's fan-out until that returns. That is this machine's disk,
 * not the platform's (a replicated commit), and the floor stores nothing.
 * The "floor + store" reference side shows what one durable insert costs.
 */
const STATE_BASE = process.env.BENCH_STATE_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir());
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
const enabled = (phase) => !only || only.has(phase);

const BENCH = join(ROOT, "bench");
/** What wrangler dev prints when it rebuilds and restarts the Worker after a source file changed. */
const RELOAD = /Reloading local server|Detected changes, restarted server/g;
const OUT = join(BENCH, "out");
const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${msg}`);

const children = [];
const dirs = [];
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    await Promise.all(children.map((c) => stop(c)));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    log(`${signal}: stopping servers`);
    cleanup().finally(() => process.exit(130));
  });
}
const hardLimit = setTimeout(() => {
  log(`hard limit of ${CONFIG.hardLimitMs / 60_000} min reached: stopping`);
  cleanup().finally(() => process.exit(2));
}, CONFIG.hardLimitMs);

const results = { date: new Date().toISOString(), machine: machineInfo(), config: CONFIG, errors: {} };
let app;
let floor;

const reloads = () => (app ? (app.log().match(RELOAD) ?? []).length : 0);

async function phase(name, fn) {
  if (!enabled(name)) return;
  const reloadsBefore = reloads();
  try {
    await fn();
  } catch (err) {
    results.errors[name] = String(err?.message ?? err).split("\n")[0].slice(0, 400);
    log(`${name} failed: ${results.errors[name]}`);
  }
  if (reloads() !== reloadsBefore) {
    (results.restartedDuring ??= []).push(name);
    log(`${name}: wrangler dev restarted the Worker during this phase (source files changed); its figures are not comparable`);
  }
}

try {
  // ── start both ──
  const appDir = newPersistDir("edgedesk-bench-app-", STATE_BASE);
  const floorDir = newPersistDir("edgedesk-bench-floor-", STATE_BASE);
  dirs.push(appDir, floorDir);
  results.stateDir = STATE_BASE;
  results.serverEnv = SERVER_ENV;
  const floorPort = await freePort();
  const floorStarting = startFloor({ port: floorPort, persistTo: floorDir, env: SERVER_ENV });
  floorStarting.then((f) => children.push(f.child), () => {});
  // The desk is not on any measured path; build it only if it was never built.
  const { password } = prepare({ persistTo: appDir, build: !existsSync(join(ROOT, "web", "build", "index.html")) });
  if (!password) throw new Error("a fresh state directory should have seeded the first admin");
  const appPort = await freePort();
  app = await startServer({ port: appPort, persistTo: appDir, env: SERVER_ENV });
  children.push(app.child);
  floor = await floorStarting;
  log(`app on ${app.url}, floor on ${floor.url}`);
  // Looked up at each reading: wrangler dev replaces the runtime process when it restarts the Worker.
  const procs = { app: () => workerdProcesses(app.child.pid, appPort), floor: () => workerdProcesses(floor.child.pid, floorPort) };
  const cpu = { app: () => workerdCpu(procs.app()), floor: () => workerdCpu(procs.floor()), store: () => workerdCpu(procs.floor()) };

  // ── seed: agents in the demo team ──
  const api = new AppApi(app.url);
  const admin = await api.loginAdmin(password);
  const { teamId, inboxId } = await api.firstTeamAndInbox(admin);
  // The load comes from one visitor per room writing far faster than a person: lift the inbox's
  // visitor budget (120 a minute by default), as an integration that writes as visitors would.
  await api.call("PATCH", `/inboxes/${inboxId}`, { cookie: admin, json: { settings: { visitorMessagesPerMinute: 100_000 } } });
  const agents = [];
  for (let i = 0; i < CONFIG.fanout.agentsPerRoom; i++) agents.push(await api.createAgent(admin, { email: `bench${i}@bench.local`, name: `Bench agent ${i}`, teamId, capacity: 100 }));
  const target = { floor: floorTarget(floor.url, "fanout"), app: appTarget(api, { inboxId, agentCookies: agents.map((a) => a.cookie) }) };

  // ── big room first, while both processes are fresh: memory per idle socket is measured as it fills ──
  await phase("bigroom", async () => {
    const sets = {};
    const memory = {};
    const { sockets, settleMs } = CONFIG.bigroom;
    const pokes = { app: () => fetch(`${app.url}/api/v1/health`).then((r) => r.text()), floor: () => fetch(`${floor.url}/`).then((r) => r.text()) };
    try {
      for (const side of ["floor", "app"]) {
        const inspector = await connectInspector((side === "app" ? app : floor).child.pid).catch(() => null);
        const heap = async () => (inspector ? inspector.heapAfterGc(pokes[side]).catch(() => null) : null);
        await sleep(settleMs);
        const heapBefore = await heap();
        const before = workerdMemory(procs[side]());
        const t = Date.now();
        sets[side] = await openRooms(side === "floor" ? floorTarget(floor.url, "big") : target.app, { rooms: 1, listenersPerRoom: sockets - 1, concurrency: 25 });
        const openMs = Date.now() - t;
        await sleep(settleMs);
        const heapAfter = await heap();
        const after = workerdMemory(procs[side]());
        inspector?.close();
        memory[side] = {
          sockets,
          openMs,
          before,
          after,
          runtimeKiBPerSocket: round((after.runtimeKiB - before.runtimeKiB) / sockets),
          proxyKiBPerSocket: round((after.proxyKiB - before.proxyKiB) / sockets),
          jsHeapBytesPerSocket: heapBefore !== null && heapAfter !== null ? round((heapAfter - heapBefore) / sockets, 0) : null,
        };
        log(`big room: ${sockets} ${side} sockets open in ${openMs} ms; runtime RSS +${round((after.runtimeKiB - before.runtimeKiB) / 1024, 1)} MiB, proxy RSS +${round((after.proxyKiB - before.proxyKiB) / 1024, 1)} MiB, JS heap after GC ${heapBefore === null ? "not read" : `+${round((heapAfter - heapBefore) / 1024, 0)} KiB`}`);
      }
      results.memory = memory;
      results.bigroom = await compare({ sets, cpu, label: "bigroom", ...pick(CONFIG.bigroom, "ratePerRoom", "durationMs", "warmupMs"), log });
      results.bigroom.appErrors = errorCounts(sets.app);
    } finally {
      await closeRooms(sets.floor);
      await closeRooms(sets.store);
      await closeRooms(sets.app);
    }
  });

  // ── fan-out and the capacity ramp, on the same 10 rooms per side ──
  if (enabled("fanout") || enabled("capacity")) {
    const sets = {};
    try {
      const { rooms, agentsPerRoom } = CONFIG.fanout;
      sets.floor = await openRooms(target.floor, { rooms, listenersPerRoom: agentsPerRoom });
      sets.store = await openRooms(floorTarget(floor.url, "fanout", { store: true }), { rooms, listenersPerRoom: agentsPerRoom });
      sets.app = await openRooms(target.app, { rooms, listenersPerRoom: agentsPerRoom });
      log(`fan-out: ${rooms} rooms × ${agentsPerRoom + 1} sockets open on each side`);
      await phase("fanout", async () => {
        results.fanout = await compare({ sets, cpu, label: "fanout", ...pick(CONFIG.fanout, "ratePerRoom", "durationMs", "warmupMs", "rounds"), log });
        results.fanout.appErrors = errorCounts(sets.app);
      });
      await phase("capacity", async () => {
        const floorCap = await capacity({ set: sets.floor, cpu: cpu.floor, label: "capacity-floor", ...CONFIG.capacity, log });
        const appCap = await capacity({ set: sets.app, cpu: cpu.app, label: "capacity-app", ...CONFIG.capacity, log });
        results.capacity = { rooms: CONFIG.fanout.rooms, floor: floorCap, app: appCap };
      });
    } catch (err) {
      results.errors.fanout ??= String(err?.message ?? err).slice(0, 400);
      log(`fan-out setup failed: ${results.errors.fanout}`);
    } finally {
      await closeRooms(sets.floor);
      await closeRooms(sets.store);
      await closeRooms(sets.app);
    }
  }

  await phase("resume", async () => {
    results.resume = await resume(api, { inboxId, ...CONFIG.resume, log });
    log(`resume: median ${results.resume.medianMs} ms, replayed ${results.resume.replayCounts.join("/")}`);
  });

  await phase("assign", async () => {
    // The floor first: its objects go cold during its own wait, and the app's archive writes after its hand-overs cannot land in it.
    try {
      results.assignFloor = await assignmentFloor(floor.url, { ...pick(CONFIG.assign, "chats", "agents"), log });
    } catch (err) {
      results.errors.assignFloor = String(err?.message ?? err).slice(0, 400);
      log(`assignment floor failed: ${results.errors.assignFloor}`);
    }
    results.assign = await assignment(api, admin, { ...CONFIG.assign, log });
    log(`assignment: ${results.assign.assigned} of ${results.assign.chats} assigned${results.assign.ms !== null ? ` in ${results.assign.ms} ms` : ""}`);
  });
} catch (err) {
  results.errors.setup = String(err?.message ?? err).slice(0, 2000);
  log(`setup failed: ${results.errors.setup}`);
} finally {
  await cleanup();
  clearTimeout(hardLimit);
}

// ── results ──
// A subset run keeps everything under bench/out/subset, so the full run's report and logs stay as they are.
const logDir = only ? join(OUT, "subset") : OUT;
const dest = only ? logDir : BENCH;
mkdirSync(logDir, { recursive: true });
results.logDir = relative(ROOT, logDir);
results.wrangler = {};
for (const [side, server] of [["app", app], ["floor", floor]]) {
  if (!server) continue;
  const text = stripAnsi(server.log());
  writeFileSync(join(logDir, `${side}-wrangler.log`), text);
  results.wrangler[side] = errorSummary(text);
}
results.assign_1000_ms = results.assign?.ms ?? null;
results.assign_floor_1000_ms = results.assignFloor?.ms ?? null;
results.assign_ratio = results.assign_1000_ms && results.assign_floor_1000_ms ? round(results.assign_1000_ms / results.assign_floor_1000_ms, 2) : null;
results.resume_1000_ms = results.resume?.medianMs ?? null;
results.memory_per_idle_socket_kib = results.memory?.app?.runtimeKiBPerSocket ?? null;
results.memory_per_idle_socket_js_bytes = results.memory?.app?.jsHeapBytesPerSocket ?? null;
results.runSeconds = round((Date.now() - started) / 1000, 0);
results.machine.loadAvgAtEnd = os.loadavg().map((x) => round(x, 2));
results.workerReloads = results.wrangler.app?.reloads ?? 0;
results.targets = targets(results);
results.allTargetsMet = results.targets.every((t) => t.met === true);
results.findings = findings(results);
results.notMeasured = PHASES.filter((p) => !enabled(p));
writeFileSync(join(dest, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(dest, "REPORT.md"), renderReport(results));
log(`wrote ${relative(ROOT, dest)}/REPORT.md and results.json (${results.targets.filter((t) => t.met).length} of ${results.targets.length} targets met)`);
process.exit(results.errors.setup ? 1 : 0);

// ── helpers ──

function pick(obj, ...keys) {
  return Object.fromEntries(keys.map((k) => [k, obj[k]]));
}

function machineInfo() {
  const cpus = os.cpus();
  const wrangler = JSON.parse(readFileSync(join(ROOT, "node_modules", "wrangler", "package.json"), "utf8")).version;
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    wrangler,
    workerd: workerdVersion(),
    loadAvgAtStart: os.loadavg().map((x) => round(x, 2)),
  };
}

function stripAnsi(text) {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Error lines in wrangler dev's output, grouped once ids and numbers are blanked. */
function errorSummary(text) {
  const lines = text.split("\n").filter((l) => /\[ERROR\]|"level":"error"|✘/.test(l));
  const counts = new Map();
  for (const l of lines) {
    const key = l
      .replace(/^.*?\[ERROR\]\s*/, "")
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>")
      .replace(/\d+/g, "N")
      .trim()
      .slice(0, 220);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { reloads: (text.match(RELOAD) ?? []).length, errorLines: lines.length, distinct: [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([t, count]) => ({ text: t, count })) };
}

/** Plain statements of what the run measured next to each missed target; no guessing beyond the data. */
function findings(r) {
  const out = [];
  if (r.restartedDuring?.length) {
    out.push(`wrangler dev restarted the Worker during ${r.restartedDuring.join(", ")} because source files changed: sockets were dropped there, so lost deliveries and latencies in those phases come from the restart, not from the room.`);
  }
  const missed = (name) => r.targets.find((t) => t.name.startsWith(name))?.met === false;
  const cpuRatio = (c) => (c.app.cpuMsPerMessage && c.floor.cpuMsPerMessage ? ` (${(c.app.cpuMsPerMessage / c.floor.cpuMsPerMessage).toFixed(1)}×)` : "");
  if (r.fanout && (missed("Fan-out p50") || missed("Fan-out p99"))) {
    const c = r.fanout;
    out.push(
      `Fan-out: our room took ${c.app.cpuMsPerMessage ?? "–"} ms of runtime CPU per message against the floor's ${c.floor.cpuMsPerMessage ?? "–"} ms${cpuRatio(c)}. Under wrangler dev one workerd thread runs the Worker and every Durable Object, so per-message work in any room (validation, several SQLite statements, the coalesced hub sync and its hub-side work, archive writes to D1 from the alarm) delays deliveries in every room; the tail (p99) grows most, as background work lands between messages.`,
    );
  }
  if (r.bigroom && (missed("Big room p50") || missed("Big room p99"))) {
    const c = r.bigroom;
    out.push(
      `Big room: ${c.app.cpuMsPerMessage ?? "–"} ms of runtime CPU per message against the floor's ${c.floor.cpuMsPerMessage ?? "–"} ms${cpuRatio(c)}. Here both sides spend most of it on the 1,000 sends; ours carry ${c.app.frameBytes ?? "–"} bytes per frame (the stored message with its metadata) against the floor's echo of ${c.floor.frameBytes ?? "–"} bytes, and every frame also crosses wrangler dev's proxy. The p99 of a 1,000-socket room is the last sockets of each broadcast, so it also moves from run to run with the machine's load.`,
    );
  }
  if (r.capacity && r.fanout && missed("Fan-out")) {
    const near = r.capacity.app.maxSustainedRatePerRoom !== null && r.capacity.app.maxSustainedRatePerRoom <= 2 * r.fanout.app.ratePerRoom;
    out.push(`Our rooms sustained up to ${r.capacity.app.maxSustainedRatePerRoom ?? "less than " + CONFIG.capacity.rates[0]}/s per room here, the floor ${r.capacity.floor.topped ? "≥ " : ""}${r.capacity.floor.maxSustainedRatePerRoom}/s${near ? `: the fixed rate of ${r.fanout.app.ratePerRoom}/s is at least half of ours, so queueing adds to our latencies` : `; the fixed rate of ${r.fanout.app.ratePerRoom}/s is well inside both, so the ratio is per-message cost, not saturation`}.`);
  }
  if (missed("Lost") || missed("Duplicated")) out.push(`Lost/duplicated: fan-out ${r.fanout?.lost}/${r.fanout?.duplicated}, big room ${r.bigroom?.lost}/${r.bigroom?.duplicated}; 'lost' counts deliveries not received within the 5 s drain (a backlog also shows here).`);
  if (missed("1,000 queued") && r.assign) {
    const perSec = r.assign.assigned / ((r.assign.ms ?? r.assign.gaveUpAfterMs) / 1000);
    out.push(`Assignment: ${r.assign.assigned} of ${r.assign.chats} assigned ${r.assign.ms !== null ? `in ${r.assign.ms} ms${r.assign.runsMs?.length > 1 ? ` (median of ${r.assign.runsMs.join(", ")} ms)` : ""}` : `before the bench gave up at ${r.assign.gaveUpAfterMs} ms`} (${Math.round(perSec)}/s; the target needs > 500/s). Each assignment is a claim in the hub, an RPC to the room (which wakes it from cold: opens its SQLite database, reads its state, then writes the conversation, the participant and the "joined" line in one transaction and broadcasts; the archive write goes with the conversation's next flush) answered with the room's new summary, which the hub indexes and adds to the desks' next batched \`changes\` frame; under wrangler dev all of it, for all 1,000 rooms and the hub, runs on one thread.${r.assignFloor ? ` The floor (one object calling ${r.assignFloor.chats} cold objects at once, each committing one write) took ${r.assignFloor.ms} ms on the same thread (median of ${r.assignFloor.runsMs.join(", ")} ms), so the platform alone uses ${Math.round(r.assignFloor.ms / 20)}% of the 2 s budget here and ours ran ${r.assign_ratio ?? "–"}× the floor.` : ""}`);
  }
  if (missed("1,000-message resume") && r.resume) {
    out.push(`Resume: median ${r.resume.medianMs} ms from connect to \`live\`, of which a reconnect with nothing to replay takes ${r.resume.handshakeOnlyMedianMs} ms (Worker token check, D1 lookup of the inbox, the proxy hop).`);
  }
  const appLog = r.wrangler?.app;
  if (appLog?.errorLines) out.push(`The app logged ${appLog.errorLines} error line(s) during the run (see "Server output"); background failures cost CPU on the shared thread.`);
  if (appLog?.distinct.some((d) => d.text.includes("too many SQL variables"))) {
    out.push("The archive flush fails with `too many SQL variables` once a room has more than 99 messages waiting to be archived (`RoomStore.markFlushed` binds one parameter per message, up to the flush batch of 200; Durable Object SQLite allows 100 per statement). The D1 batch has already been written, so every retry (each 5 s) rewrites the same 200 rows and the room's archive never advances. A room gets there whenever more than 99 messages arrive between two flushes: in this bench the resume test (1,000 messages in about 2 s) and the top steps of the rate ramp.");
  }
  return out;
}
