// The processes a benchmark run owns: the floor's `wrangler dev`, free ports,
// the resident memory of the workerd processes behind a wrangler dev, and a
// clean stop of every process group we started, even on error.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT, stopServer } from "../../scripts/local.mjs";

const BIN = join(ROOT, "node_modules", ".bin");
const quietEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", PATH: `${BIN}:${process.env.PATH}` };

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts bench/floor on workerd, like scripts/local.mjs starts the app; resolves once it answers. */
export async function startFloor({ port, persistTo, env = {} }) {
  const args = ["dev", "--config", join(ROOT, "bench", "floor", "wrangler.toml"), "--ip", "127.0.0.1", "--port", String(port),
    "--show-interactive-dev-session=false", "--inspector-port", "0", "--persist-to", persistTo];
  const child = spawn(join(BIN, "wrangler"), args, { cwd: ROOT, env: { ...quietEnv, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`floor wrangler dev exited early:\n${log}`);
    try {
      // Any HTTP answer (the floor says 404 off its socket path) means it listens.
      await fetch(`${url}/health`);
      return { url, child, log: () => log };
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  stopServer(child);
  throw new Error(`floor wrangler dev did not answer within 60 s:\n${log}`);
}

/** Stops a wrangler dev process group and waits (bounded) for it to go. */
export async function stop(child) {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  stopServer(child);
  const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5_000))]);
  if (!done) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function procStatus(pid) {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
}

/** Children of every process, read once from /proc. */
function childrenMap() {
  const kids = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(procStatus(name)?.match(/^PPid:\s+(\d+)/m)?.[1]);
    if (!ppid) continue;
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(Number(name));
  }
  return kids;
}

/**
 * The workerd processes under a wrangler dev process. wrangler dev runs two:
 * the proxy that owns the public port (the extra hop) and the runtime that
 * runs the Worker and its Durable Objects.
 */
export function workerdProcesses(rootPid, publicPort) {
  const kids = childrenMap();
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop();
    for (const kid of kids.get(pid) ?? []) stack.push(kid);
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (!/\bworkerd serve\b/.test(cmd)) continue;
    out.push({ pid, role: cmd.includes(`--socket-addr=entry=127.0.0.1:${publicPort} `) ? "proxy" : "runtime" });
  }
  return out;
}

/** VmRSS in KiB, summed per role. */
export function workerdMemory(procs) {
  const out = { runtimeKiB: 0, proxyKiB: 0 };
  for (const p of procs) out[`${p.role}KiB`] += Number(procStatus(p.pid)?.match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? 0);
  return out;
}

const TICKS_PER_SEC = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** User + system CPU time in ms, summed per role; `pids` tells a restarted process apart. */
export function workerdCpu(procs) {
  const out = { runtimeMs: 0, proxyMs: 0, pids: procs.map((p) => p.pid).sort().join(",") };
  for (const p of procs) {
    let stat = "";
    try {
      stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out[`${p.role}Ms`] += ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
  }
  return out;
}

/** The workerd that wrangler runs (its own dependency, not necessarily the top-level one). */
export function workerdVersion() {
  for (const bin of [
    join(ROOT, "node_modules", "wrangler", "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd"),
    join(ROOT, "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd"),
  ]) {
    const res = spawnSync(bin, ["--version"], { encoding: "utf8" });
    if (res.status === 0 && res.stdout) return res.stdout.trim();
  }
  return "unknown";
}
