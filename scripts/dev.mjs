// `npm run dev`: the whole product on the embedded default (workerd + local
// D1/DO/R2 under .wrangler/state), with the desk rebuilt on change.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ADMIN_EMAIL, prepare, ROOT } from "./local.mjs";

const PORT = Number(process.env.PORT ?? 8787);

console.log("Edgedesk: preparing local state…");
const { createdVars, password } = prepare();
if (createdVars) console.log("Created .dev.vars with fresh random secrets.");

const bin = (name) => join(ROOT, "node_modules", ".bin", name);
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
// Desk changes show up while dev runs: vite rebuilds web/build, wrangler serves it.
const watcher = spawn(bin("vite"), ["build", "--watch", "--logLevel", "warn"], { cwd: join(ROOT, "web"), stdio: "inherit", env });
const server = spawn(bin("wrangler"), ["dev", "--ip", "127.0.0.1", "--port", String(PORT)], { cwd: ROOT, stdio: "inherit", env });

const url = `http://127.0.0.1:${PORT}`;
const banner = [
  "",
  "──────────────────────────────────────────────",
  ` Edgedesk desk:   ${url}/`,
  ` API (OpenAPI):   ${url}/api/v1/openapi.json`,
  ` Admin login:     ${ADMIN_EMAIL}`,
  password
    ? ` Password:        ${password}   (shown once: keep it)`
    : " Password:        unchanged (printed on the first run)",
  "──────────────────────────────────────────────",
  "",
].join("\n");

// Print the banner once the server answers, so it is not buried in wrangler's output.
(async () => {
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`${url}/api/v1/health`)).ok) return console.log(banner);
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(banner);
})();

const stop = () => {
  watcher.kill("SIGTERM");
  server.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
server.on("exit", (code) => {
  watcher.kill("SIGTERM");
  process.exit(code ?? 0);
});
