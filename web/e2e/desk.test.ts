/// <reference types="node" />
// The live desk in a real browser against a real `wrangler dev`: a visitor
// writes over the widget socket (simulated from Node), the conversation shows
// up in the desk without a reload, the agent answers, writes a private note,
// and closes it — and the visitor's socket sees exactly what it should.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { ADMIN_EMAIL, type LocalServer, newPersistDir, prepare, startServer } from "../../scripts/local.mjs";
import { freePort, launchChromium, stopAndWait } from "./harness.ts";

/** What the visitor's socket receives (only the fields these tests read). */
interface VisitorFrame {
  type: string;
  message?: { seq: number; kind: string; body: string; internal: boolean; author: { type: string } };
  conversation?: { status: string };
  who?: { kind: string };
  on?: boolean;
}

let dir: string;
let port: number;
let server: LocalServer;
let browser: Browser;
let page: Page;
let adminPassword: string;
const pageErrors: string[] = [];

let visitor: WebSocket | null = null;
let visitorToken = "";
let roomId = "";
const visitorFrames: VisitorFrame[] = [];

/** The widget's socket, resuming after the last sequence it saw. */
async function connectVisitor(after = 0): Promise<WebSocket> {
  const pageUrl = encodeURIComponent("https://shop.example/pricing");
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws/visitor?token=${encodeURIComponent(visitorToken)}&after=${after}&page=${pageUrl}`);
  visitor = ws;
  ws.addEventListener("message", (e) => visitorFrames.push(...framesOf(e)));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("the visitor socket did not open")), { once: true });
  });
  return ws;
}

/** A socket frame as the widget handles it: a resume's `replay` chunk counts as its messages. */
function framesOf(e: MessageEvent): VisitorFrame[] {
  const frame = JSON.parse(String(e.data)) as VisitorFrame & { messages?: VisitorFrame["message"][] };
  return frame.type === "replay" ? (frame.messages ?? []).map((message) => ({ type: "message", message })) : [frame];
}

/** Resolves with the first visitor frame (already received or arriving) that matches. */
function visitorReceives(match: (f: VisitorFrame) => boolean, what: string, timeoutMs = 10_000): Promise<VisitorFrame> {
  const seen = visitorFrames.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      visitor?.removeEventListener("message", onMessage);
      reject(new Error(`the visitor never received ${what}`));
    }, timeoutMs);
    function onMessage(e: MessageEvent) {
      const frame = framesOf(e).find(match);
      if (!frame) return;
      clearTimeout(timer);
      visitor?.removeEventListener("message", onMessage);
      resolve(frame);
    }
    visitor?.addEventListener("message", onMessage);
  });
}

const lists = () => page.getByRole("navigation", { name: "Conversation lists" });
const countOf = (name: string): Locator => lists().getByRole("button", { name: new RegExp(`^${name.replace("/", "\\/")}`) }).locator(".count");
const timeline = () => page.getByRole("log", { name: "Messages" });

async function countIs(name: string, expected: string): Promise<void> {
  await page.waitForFunction(
    ([label, want]) =>
      [...document.querySelectorAll<HTMLButtonElement>('nav[aria-label="Conversation lists"] button')].some(
        (b) => b.textContent?.trim().startsWith(label) && b.querySelector(".count")?.textContent === want,
      ),
    [name, expected] as const,
  );
}

before(async () => {
  dir = newPersistDir();
  const { password } = prepare({ persistTo: dir });
  assert.ok(password, "a fresh state directory seeds the first admin");
  adminPassword = password;
  port = await freePort();
  server = await startServer({ port, persistTo: dir });
  browser = await launchChromium();
  page = await browser.newPage({ baseURL: server.url, viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => pageErrors.push(err.message));
});

after(async () => {
  visitor?.close();
  await browser?.close();
  if (server) await stopAndWait(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the admin signs in and sets their status from the top bar", async () => {
  await page.goto("/login");
  await page.fill("#login-email", ADMIN_EMAIL);
  await page.fill("#login-password", adminPassword);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByRole("heading", { name: "Select a conversation" }).waitFor();

  const status = page.locator("#presence-status");
  await page.waitForFunction(() => !(document.querySelector("#presence-status") as HTMLSelectElement | null)?.disabled);
  await status.selectOption("break");
  await page.waitForFunction(() => document.querySelector(".presence .dot")?.classList.contains("break"));
  await status.selectOption("online");
  await page.waitForFunction(() => document.querySelector(".presence .dot")?.classList.contains("online"));
  assert.equal(await status.inputValue(), "online");
  assert.match((await page.getByLabel("Time in this status").textContent()) ?? "", /^0:0\d$/, "the timer restarts at the status change");
  assert.equal(await page.getByRole("checkbox", { name: "Chats" }).isChecked(), true, "the chat panel is on");
});

test("a visitor's message shows up in the lists live, without a reload", async () => {
  await countIs("All", "0");
  // A reload would wipe this marker.
  await page.evaluate(() => ((window as unknown as { deskMarker: number }).deskMarker = 42));

  const inboxes = await page.evaluate(async () => (await fetch("/api/v1/inboxes")).json());
  const inboxId = (inboxes as { items: { id: string; name: string }[] }).items.find((i) => i.name === "Website chat")?.id;
  assert.ok(inboxId, "the seeded web inbox exists");
  const session = (await (
    await fetch(`${server.url}/api/v1/widget/${inboxId}/session`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })
  ).json()) as { token: string; roomId: string };

  visitorToken = session.token;
  roomId = session.roomId;
  const ws = await connectVisitor();
  ws.send(JSON.stringify({ type: "send", clientId: "visitor-hello-0001", body: "Hello from the test" }));

  await countIs("All", "1");
  // Support is in auto mode and the admin is an online member: it lands in Mine.
  await countIs("Mine", "1");
  await countIs("Live / Waiting", "0");
  assert.equal(await page.evaluate(() => (window as unknown as { deskMarker?: number }).deskMarker), 42, "the page was not reloaded");
});

test("the agent opens the conversation and sees the visitor's message and details", async () => {
  await lists().getByRole("button", { name: /^Mine/ }).click();
  const row = page.getByRole("list", { name: "Mine conversations" }).getByRole("link");
  await row.first().waitFor(); // the list renders after the click
  assert.equal(await row.count(), 1);
  await row.click();
  await page.waitForURL((u) => u.searchParams.has("room"));
  await timeline().getByText("Hello from the test").waitFor();
  await page.locator("[data-status=open]").filter({ hasText: "Open" }).waitFor();
  await page.getByText("Assigned to you").waitFor();
  await page.getByRole("link", { name: "https://shop.example/pricing" }).waitFor(); // technical details, right pane
});

test("the agent's reply reaches the visitor's socket, and the visitor's typing and reading show", async () => {
  const composer = page.getByRole("textbox", { name: "Reply to the customer" });
  await composer.fill("Hi, how can I help?");
  await composer.press("Enter");
  const frame = await visitorReceives((f) => f.type === "message" && f.message?.body === "Hi, how can I help?", "the agent's reply");
  assert.equal(frame.message?.author.type, "agent");
  assert.equal(frame.message?.internal, false);
  await timeline().getByText("Hi, how can I help?").waitFor();
  assert.equal(await composer.inputValue(), "", "the composer is cleared after sending");

  visitor?.send(JSON.stringify({ type: "typing", on: true }));
  await page.getByText(/is typing/).waitFor();
  visitor?.send(JSON.stringify({ type: "read", seq: frame.message?.seq }));
  await timeline().getByText("Seen", { exact: true }).waitFor();
});

test("the composer counts the 16 KB limit in bytes, as the server does, and will not send past it", async () => {
  const composer = page.getByRole("textbox", { name: "Reply to the customer" });
  const send = page.getByRole("button", { name: "Send", exact: true });
  // 9,000 accented letters: 9,000 characters, 18,000 bytes.
  await composer.fill("é".repeat(9000));
  await page.getByText("Too long by 1,616 bytes").waitFor();
  assert.equal(await send.isDisabled(), true, "nothing over the limit can be sent");
  await composer.fill("é".repeat(8192)); // exactly 16,384 bytes
  await page.getByText("16,384 / 16,384 bytes").waitFor();
  assert.equal(await send.isDisabled(), false);
  await composer.fill("");
});

test("an internal note is shown to agents only and never reaches the visitor", async () => {
  await page.locator(".modes label", { hasText: "Internal note" }).click();
  const note = page.getByRole("textbox", { name: "Internal note", exact: true });
  await note.fill("VIP customer, be extra nice");
  await note.press("Enter");
  await timeline().getByRole("article", { name: /Internal note/ }).getByText("VIP customer, be extra nice").waitFor();

  // Frames reach the visitor in order: once a later reply arrived, the note would have too.
  await page.locator(".modes label", { hasText: "Reply" }).click();
  const composer = page.getByRole("textbox", { name: "Reply to the customer" });
  await composer.fill("One moment please.");
  await composer.press("Enter");
  await visitorReceives((f) => f.type === "message" && f.message?.body === "One moment please.", "the second reply");
  assert.ok(!visitorFrames.some((f) => JSON.stringify(f).includes("VIP customer")), "the visitor never sees the note");
});

test("a reply written while the server is down is sent once when it is back, and both sides resume", async () => {
  const lastSeen = Math.max(0, ...visitorFrames.map((f) => f.message?.seq ?? 0));
  await stopAndWait(server, 30_000);
  await page.getByText("Reconnecting… anything you send goes out when the connection is back.").waitFor();

  const composer = page.getByRole("textbox", { name: "Reply to the customer" });
  await composer.fill("Written while offline");
  await composer.press("Enter");
  await page.getByText("Waiting for the connection…").waitFor();

  server = await startServer({ port, persistTo: dir });
  // The desk reconnects on its own (backoff 1 s, 2 s, 4 s …) and resends with the same client id.
  await timeline().locator(".message", { hasText: "Written while offline" }).waitFor({ timeout: 45_000 });
  assert.equal(await page.locator(".pending").count(), 0, "nothing left waiting");
  await countIs("Mine", "1"); // the team socket's fresh snapshot

  await connectVisitor(lastSeen);
  await visitorReceives((f) => f.type === "message" && f.message?.body === "Written while offline", "the reply written offline");
  const room = (await page.evaluate(async (id) => (await fetch(`/api/v1/rooms/${encodeURIComponent(id)}?limit=100`)).json(), roomId)) as { messages: { body: string }[] };
  assert.equal(room.messages.filter((m) => m.body === "Written while offline").length, 1, "stored once");
});

test("closing with reason resolved takes the conversation out of the open lists", async () => {
  await page.getByRole("toolbar", { name: "Conversation actions" }).getByRole("button", { name: "Close", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Close conversation" });
  await dialog.getByRole("radio", { name: "Resolved" }).check();
  await dialog.getByLabel(/^Comment/).fill("Answered the question");
  await dialog.getByRole("button", { name: "Close conversation" }).click();
  await dialog.waitFor({ state: "detached" });

  await visitorReceives((f) => f.type === "conversation" && f.conversation?.status === "closed", "the closed conversation");
  await page.locator("[data-status=closed]").filter({ hasText: "resolved" }).waitFor();
  await countIs("Mine", "0");
  await countIs("All", "0");
  assert.equal(await page.getByRole("list", { name: "Mine conversations" }).count(), 0, "the Mine list is empty");
  await countIs("Closed", "1");
  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
});

test("chats that queue during a break are handed out together when the agent is back, and the lists show them all", async () => {
  const status = page.locator("#presence-status");
  await status.selectOption("break");
  await page.waitForFunction(() => document.querySelector(".presence .dot")?.classList.contains("break"));

  const inboxes = (await page.evaluate(async () => (await fetch("/api/v1/inboxes")).json())) as { items: { id: string; name: string }[] };
  const inboxId = inboxes.items.find((i) => i.name === "Website chat")!.id;
  for (let i = 0; i < 4; i++) {
    const session = (await (await fetch(`${server.url}/api/v1/widget/${inboxId}/session`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json()) as { token: string; roomId: string };
    const sent = await fetch(`${server.url}/api/v1/rooms/${encodeURIComponent(session.roomId)}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ clientId: `queued-during-break-${i}`, body: `Waiting customer ${i}` }),
    });
    assert.ok(sent.ok, await sent.text());
  }
  await countIs("Live / Waiting", "4");

  // A fresh desk socket, so the test can read what the hub sends it.
  const hubFrames: { type: string; conversations?: unknown[] }[] = [];
  page.on("websocket", (ws) => {
    if (ws.url().includes("/ws/team/")) ws.on("framereceived", (f) => hubFrames.push(JSON.parse(String(f.payload))));
  });
  await page.reload();
  await countIs("Live / Waiting", "4");
  await page.waitForFunction(() => !(document.querySelector("#presence-status") as HTMLSelectElement | null)?.disabled);
  await status.selectOption("online");

  await countIs("Mine", "4");
  await countIs("Live / Waiting", "0");
  assert.ok(
    hubFrames.some((f) => f.type === "changes" && (f.conversations?.length ?? 0) > 1),
    `the four hand-overs reached the desk batched; got ${hubFrames.map((f) => f.type).join(", ")}`,
  );
  assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
});
