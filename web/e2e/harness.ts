/// <reference types="node" />
// What every end-to-end file needs: a free port, Debian's Chromium, and a
// server stop that waits for the process group to be gone.
import { createServer } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { type LocalServer, stopServer } from "../../scripts/local.mjs";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Debian's Chromium, never a downloaded browser; the flags keep it off the (closed) network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
}

/** Stops `wrangler dev` and resolves once it exited (or after `limitMs`). */
export async function stopAndWait(server: LocalServer, limitMs = 5_000): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  stopServer(server.child);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, limitMs))]);
}
