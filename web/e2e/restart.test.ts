/// <reference types="node" />
// Rooms survive a real restart of the runtime: kill `wrangler dev`, start it
// again on the same state, and a visitor resumes from its last sequence with
// nothing lost and nothing repeated (the pool's evictDurableObject cannot
// show a process restart).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { ADMIN_EMAIL, type LocalServer, newPersistDir, prepare, startServer } from "../../scripts/local.mjs";
import { freePort, stopAndWait } from "./harness.ts";

let dir: string;
let server: LocalServer;
let adminPassword: string;
let port: number;

before(async () => {
  dir = newPersistDir();
  adminPassword = prepare({ persistTo: dir, build: false }).password!;
  port = await freePort();
  server = await startServer({ port, persistTo: dir });
});

async function webInboxId(): Promise<string> {
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify({ email: ADMIN_EMAIL, password: adminPassword }),
  });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
  const inboxes = (await (await fetch(`${server.url}/api/v1/inboxes`, { headers: { cookie } })).json()) as { items: { id: string; kind: string }[] };
  return inboxes.items.find((i) => i.kind === "web")!.id;
}

after(async () => {
  if (server) await stopAndWait(server);
  rmSync(dir, { recursive: true, force: true });
});

interface Frame {
  type: string;
  message?: { seq: number; body: string; clientId: string | null };
  messages?: { seq: number; body: string }[];
  lastSeq?: number;
}

/** Opens a visitor socket and collects frames until `live`. */
function visitor(token: string, after: number): Promise<{ ws: WebSocket; frames: Frame[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/visitor?token=${encodeURIComponent(token)}&after=${after}`);
    const frames: Frame[] = [];
    const timer = setTimeout(() => reject(new Error(`no live frame: ${JSON.stringify(frames)}`)), 10_000);
    ws.onmessage = (e) => {
      const frame = JSON.parse(String(e.data)) as Frame;
      frames.push(frame);
      if (frame.type === "live") {
        clearTimeout(timer);
        resolve({ ws, frames });
      }
    };
    ws.onerror = () => reject(new Error("socket error"));
  });
}

function echoOf(ws: WebSocket, clientId: string): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (e: MessageEvent) => {
      const frame = JSON.parse(String(e.data)) as Frame;
      if (frame.type === "message" && frame.message?.clientId === clientId) {
        ws.removeEventListener("message", onMessage);
        resolve(frame.message.seq);
      }
    };
    ws.addEventListener("message", onMessage);
  });
}

test("messages and the conversation survive a restart, and resume replays exactly what was missed", async () => {
  const inboxId = await webInboxId();
  const session = await (await fetch(`${server.url}/api/v1/widget/${inboxId}/session`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json();

  const first = await visitor(session.token, 0);
  const seqs: number[] = [];
  const clientIds: string[] = [];
  for (const body of ["one", "two", "three"]) {
    const clientId = `restart-${body}-${Date.now()}`;
    const echo = echoOf(first.ws, clientId);
    first.ws.send(JSON.stringify({ type: "send", clientId, body }));
    seqs.push(await echo);
    clientIds.push(clientId);
  }
  first.ws.close();

  await stopAndWait(server, 30_000);
  server = await startServer({ port, persistTo: dir });

  // The session token still works (secrets come from .dev.vars), and resume after "one" replays two and three only.
  const resumed = await visitor(session.token, seqs[0]);
  const replayed = resumed.frames.filter((f) => f.type === "replay").flatMap((f) => f.messages!.map((m) => m.body));
  assert.deepEqual(replayed, ["two", "three"]);
  const welcome = resumed.frames.find((f) => f.type === "welcome") as unknown as { conversation: { status: string } };
  assert.equal(welcome.conversation.status, "queued");
  // A send retried after the restart (same client id) is answered with the stored message, not stored again.
  const retried = echoOf(resumed.ws, clientIds[2]);
  resumed.ws.send(JSON.stringify({ type: "send", clientId: clientIds[2], body: "three" }));
  assert.equal(await retried, seqs[2]);
  const next = `restart-four-${Date.now()}`;
  const four = echoOf(resumed.ws, next);
  resumed.ws.send(JSON.stringify({ type: "send", clientId: next, body: "four" }));
  assert.equal(await four, seqs[2] + 1);
  resumed.ws.close();
});
