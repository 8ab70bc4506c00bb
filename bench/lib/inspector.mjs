// The DevTools inspector that wrangler dev opens for the Worker's isolate,
// used for one thing: collect garbage and read the JS heap before and after
// opening idle sockets, so memory per socket is not garbage from the test
// itself. scripts/local.mjs starts wrangler with `--inspector-port 0`, so the
// port is found from the wrangler process's listening sockets in /proc.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

function listeningPorts(pid) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m) inodes.add(m[1]);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return [];
  }
  const ports = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] local address:port (hex), cols[3] state (0A = LISTEN), cols[9] inode
      if (cols[3] === "0A" && inodes.has(cols[9])) ports.push(parseInt(cols[1].split(":").pop(), 16));
    }
  }
  return ports;
}

/** Pids of a process and all its descendants. */
function tree(rootPid) {
  const kids = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${name}/status`, "utf8").match(/^PPid:\s+(\d+)/m)?.[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(name));
    } catch {
      // gone
    }
  }
  const out = [];
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(kids.get(pid) ?? []));
  }
  return out;
}

/**
 * Connects to wrangler's inspector proxy for the Worker under a wrangler dev
 * process (the runtime's own inspector port is held by wrangler); null if
 * none answers.
 */
export async function connectInspector(wranglerPid) {
  for (const pid of tree(wranglerPid)) {
    for (const port of listeningPorts(pid)) {
      let targets;
      try {
        targets = await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(1_000) })).json();
      } catch {
        continue; // not an inspector
      }
      const target = Array.isArray(targets) && targets.find((t) => t.webSocketDebuggerUrl?.endsWith("/ws"));
      if (target) return open(target.webSocketDebuggerUrl);
    }
  }
  return null;
}

function open(url) {
  return new Promise((resolve, reject) => {
    // wrangler's inspector proxy only accepts local origins.
    const ws = new WebSocket(url, { headers: { Origin: "http://localhost" } });
    const pending = new Map();
    let id = 0;
    ws.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      m.error ? p.reject(new Error(m.error.message)) : p.resolve(m.result);
    });
    const call = (method, params = {}) =>
      new Promise((res, rej) => {
        const i = ++id;
        const timer = setTimeout(() => (pending.delete(i), rej(new Error(`${method} timed out`))), 10_000);
        pending.set(i, { resolve: (v) => (clearTimeout(timer), res(v)), reject: (err) => (clearTimeout(timer), rej(err)) });
        ws.send(JSON.stringify({ id: i, method, params }));
      });
    ws.addEventListener("open", () =>
      resolve({
        /**
         * Full GC, then the isolate's JS heap in use (bytes). workerd runs the
         * GC task on the isolate's next piece of work, so `poke` sends it one.
         */
        async heapAfterGc(poke) {
          const gc = call("HeapProfiler.collectGarbage");
          await poke();
          await gc;
          const { usedSize } = await call("Runtime.getHeapUsage");
          return usedSize;
        },
        close: () => ws.close(),
      }),
    );
    ws.addEventListener("error", () => reject(new Error(`inspector ${url} did not open`)));
    setTimeout(() => reject(new Error(`inspector ${url} did not open within 5 s`)), 5_000).unref();
  });
}
