/// <reference types="node" />
// The desk's admin screens in a real browser against a real `wrangler dev`:
// sign in, create a team, invite an agent, add an inbox, all through the forms.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { ADMIN_EMAIL, type LocalServer, newPersistDir, prepare, startServer } from "../../scripts/local.mjs";
import { freePort, launchChromium, stopAndWait } from "./harness.ts";

let dir: string;
let server: LocalServer;
let browser: Browser;
let page: Page;
let adminPassword: string;
const pageErrors: string[] = [];

async function newPage(b: Browser): Promise<Page> {
  const p = await b.newPage({ baseURL: server.url });
  p.setDefaultTimeout(15_000);
  p.on("pageerror", (err) => pageErrors.push(err.message));
  return p;
}

const rowWith = (p: Page, text: string) => p.locator("table tbody tr", { hasText: text });

before(async () => {
  dir = newPersistDir();
  const { password } = prepare({ persistTo: dir });
  assert.ok(password, "a fresh state directory seeds the first admin");
  adminPassword = password;
  server = await startServer({ port: await freePort(), persistTo: dir });
  browser = await launchChromium();
  page = await newPage(browser);
});

after(async () => {
  await browser?.close();
  if (server) await stopAndWait(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a signed-out visitor is sent to the sign-in page, keeping where they wanted to go", async () => {
  await page.goto("/admin/teams");
  await page.waitForURL((u) => u.pathname === "/login");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/admin/teams");
});

test("a wrong password is refused with a message at the top of the form", async () => {
  await page.fill("#login-email", ADMIN_EMAIL);
  await page.fill("#login-password", "not-the-password");
  await page.click("button[type=submit]");
  await page.getByRole("alert").filter({ hasText: "Email or password is wrong." }).waitFor();
});

test("an admin signs in through the form and lands where they were going", async () => {
  await page.fill("#login-password", adminPassword);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.pathname === "/admin/teams");
  const cookies = await page.context().cookies();
  assert.ok(cookies.some((c) => c.name === "edgedesk_session" && c.secure && c.httpOnly), "the Secure session cookie is stored on http://127.0.0.1");
});

test("the desk shows the lists with zero counts and an Admin link for admins", async () => {
  await page.getByRole("link", { name: "Desk", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/");
  await page.getByRole("heading", { name: "Select a conversation" }).waitFor();
  const lists = page.getByRole("navigation", { name: "Conversation lists" });
  for (const name of ["Live / Waiting", "Mine", "Joined", "All", "Pending", "Flagged", "Tagged", "Closed", "Tickets"]) {
    assert.equal(await lists.getByRole("button", { name: new RegExp(`^${name.replace("/", "\\/")}`) }).locator(".count").textContent(), "0");
  }
  await page.getByRole("link", { name: "Admin", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/admin/teams");
  await rowWith(page, "Support").waitFor();
});

test("an empty team name shows the error next to the name field", async () => {
  await page.fill("#team-name", "");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.locator("#team-name-error").filter({ hasText: "Name is required." }).waitFor();
  assert.equal(await page.getAttribute("#team-name", "aria-invalid"), "true");
  assert.match((await page.getAttribute("#team-name", "aria-describedby")) ?? "", /team-name-error/);
  await page.getByRole("alert").filter({ hasText: "Please fix the highlighted fields." }).waitFor();
});

test("an admin creates a team through the form and sees it listed", async () => {
  await page.fill("#team-name", "Billing");
  await page.getByRole("button", { name: "Create team" }).click();
  await rowWith(page, "Billing").waitFor();
  assert.equal(await page.locator("#team-name-error").count(), 0);
  assert.equal(await page.inputValue("#team-name"), "", "the form is cleared for the next team");
});

test("a duplicate team name is refused with the API's message", async () => {
  await page.fill("#team-name", "billing");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.getByRole("alert").filter({ hasText: "A team with that name already exists." }).waitFor();
  await page.fill("#team-name", "");
});

test("team settings are shown in human units and saved as seconds", async () => {
  await rowWith(page, "Billing").getByRole("link", { name: "Billing", exact: true }).click();
  await page.waitForURL((u) => /^\/admin\/teams\/[^/]+$/.test(u.pathname));
  await page.getByRole("heading", { name: "Business hours" }).waitFor();
  assert.equal(await page.inputValue("#team-overdue"), "5"); // 300 s default, shown as 5 minutes
  await page.fill("#team-overdue", "10");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("status").filter({ hasText: "Changes saved." }).waitFor();
  const id = new URL(page.url()).pathname.split("/").pop();
  const team = await page.evaluate(async (teamId) => (await fetch(`/api/v1/teams/${teamId}`)).json(), id);
  assert.equal(team.settings.overdueSeconds, 600);
});

let inviteUrl = "";

test("an admin invites an agent through the form and sees the one-time link", async () => {
  await page.getByRole("navigation", { name: "Admin sections" }).getByRole("link", { name: "Agents" }).click();
  await page.waitForURL((u) => u.pathname === "/admin/agents");
  await page.fill("#agent-new-email", "rita@example.com");
  await page.fill("#agent-new-name", "Rita Agent");
  await page.getByRole("group", { name: "Teams" }).getByLabel("Billing").selectOption("agent");
  await page.getByRole("button", { name: "Invite agent" }).click();
  await page.getByRole("heading", { name: "Invite link for Rita Agent" }).waitFor();
  inviteUrl = await page.inputValue("#invite-url");
  assert.match(inviteUrl, new RegExp(`^${server.url}/set-password#token=[\\w-]{10,}$`));
  const row = rowWith(page, "rita@example.com");
  await row.getByText("Invite pending").waitFor();
  await row.getByText("Billing").waitFor();
});

test("an admin creates a web inbox for that team and sees it listed", async () => {
  await page.getByRole("navigation", { name: "Admin sections" }).getByRole("link", { name: "Inboxes" }).click();
  await page.waitForURL((u) => u.pathname === "/admin/inboxes");
  await rowWith(page, "Website chat").waitFor();
  assert.equal(await page.locator('#inbox-kind option[value="gbm"]').isDisabled(), true, "Google Business Messages is shown but retired");
  await page.fill("#inbox-name", "Billing chat");
  await page.selectOption("#inbox-kind", "web");
  await page.selectOption("#inbox-team", { label: "Billing" });
  await page.getByRole("button", { name: "Create inbox" }).click();
  await page.getByRole("heading", { name: "Inbox “Billing chat” created" }).waitFor();
  const row = rowWith(page, "Billing chat");
  await row.getByText("Web widget").waitFor();
  assert.equal((await row.locator("td").nth(2).textContent())?.trim(), "Billing");
});

test("an admin switches on the inbox's bot: a menu option without a name is shown next to it, the saved bot is what the form showed", async () => {
  await rowWith(page, "Billing chat").getByRole("link", { name: "Billing chat", exact: true }).click();
  await page.waitForURL((u) => /^\/admin\/inboxes\/[^/]+$/.test(u.pathname));
  await page.getByLabel("Start new conversations with the bot").check();
  // A new bot comes with the way to a person every bot needs.
  assert.equal(await page.inputValue("#bot-option-0-label"), "Talk to a person");
  await page.getByRole("button", { name: "Add option" }).click();
  await page.fill("#bot-option-1-reply", "We are open 9 to 5, Monday to Friday.");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.locator("#bot-option-1-label-error").waitFor();
  await page.fill("#bot-option-1-label", "Opening hours");
  // The order is the menu's numbering: the everyday question first.
  await page.getByRole("button", { name: "Move option 2 up" }).click();
  assert.equal(await page.inputValue("#bot-option-0-label"), "Opening hours");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("status").filter({ hasText: "Changes saved." }).waitFor();
  const id = new URL(page.url()).pathname.split("/").pop();
  const inbox = await page.evaluate(async (inboxId) => (await fetch(`/api/v1/inboxes/${inboxId}`)).json(), id);
  assert.equal(inbox.settings.bot.enabled, true);
  assert.deepEqual(
    inbox.settings.bot.options.map((o: { label: string; reply?: string; handover: boolean }) => [o.label, o.reply ?? null, o.handover]),
    [["Opening hours", "We are open 9 to 5, Monday to Friday.", false], ["Talk to a person", null, true]],
  );
  // Switched off with an unfinished option the form no longer shows: the inbox still saves, and the bot is kept for later.
  await page.getByRole("button", { name: "Add option" }).click();
  await page.getByLabel("Start new conversations with the bot").uncheck();
  await page.getByRole("button", { name: "Save changes" }).click();
  // The notice of the save before is still up: wait for the inbox itself.
  await page.waitForFunction(async (inboxId) => (await (await fetch(`/api/v1/inboxes/${inboxId}`)).json()).settings.bot.enabled === false, id, { polling: 200 });
  const off = await page.evaluate(async (inboxId) => (await fetch(`/api/v1/inboxes/${inboxId}`)).json(), id);
  assert.equal(off.settings.bot.options.length, 2);
  assert.equal(await page.locator(".field-error").count(), 0);
  await page.getByRole("link", { name: "Inboxes" }).first().click();
  await page.waitForURL((u) => u.pathname === "/admin/inboxes");
});

test("on a phone (400 px wide) the desk and the admin pages fit the screen: wide tables scroll inside their card", async () => {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 400, height: 800 });
  try {
    for (const path of ["/", "/admin/teams", "/admin/agents", "/admin/inboxes"]) {
      await page.goto(path);
      await page.locator("header").getByRole("button", { name: "Sign out" }).waitFor();
      if (path !== "/") await page.locator("table tbody tr").first().waitFor();
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 400, `${path} is ${width} px wide`);
    }
  } finally {
    if (before) await page.setViewportSize(before);
  }
});

test("the invited agent sets a password through the link and signs in without admin access", async () => {
  const context = await browser.newContext({ baseURL: server.url });
  try {
    const agentPage = await context.newPage();
    agentPage.setDefaultTimeout(15_000);
    agentPage.on("pageerror", (err) => pageErrors.push(err.message));
    await agentPage.goto(inviteUrl);
    await agentPage.fill("#new-password", "a-good-long-password");
    await agentPage.fill("#confirm-password", "a-different-password");
    await agentPage.getByRole("button", { name: "Set password" }).click();
    await agentPage.locator("#confirm-password-error").waitFor();
    await agentPage.fill("#confirm-password", "a-good-long-password");
    await agentPage.getByRole("button", { name: "Set password" }).click();
    await agentPage.waitForURL((u) => u.pathname === "/login");
    await agentPage.getByText("Your password is set.").waitFor();
    await agentPage.fill("#login-email", "rita@example.com");
    await agentPage.fill("#login-password", "a-good-long-password");
    await agentPage.click("button[type=submit]");
    await agentPage.waitForURL((u) => u.pathname === "/");
    await agentPage.getByRole("heading", { name: "Select a conversation" }).waitFor();
    assert.equal(await agentPage.getByRole("link", { name: "Admin", exact: true }).count(), 0);
  } finally {
    await context.close();
  }
});

test("signing out returns to the sign-in page and the desk asks to sign in again", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL((u) => u.pathname === "/login");
  await page.goto("/");
  await page.waitForURL((u) => u.pathname === "/login");
  assert.deepEqual(pageErrors, [], "no uncaught errors in the pages");
});
