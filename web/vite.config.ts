// The desk is a SvelteKit SPA: built to web/build and served by the Worker as
// static assets, with index.html as the fallback for every non-API path.
// SvelteKit 3 takes its configuration here (svelte.config.js is rejected).
import adapter from "@sveltejs/adapter-static";
import { sveltekit } from "@sveltejs/kit/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [sveltekit({ adapter: adapter({ pages: "build", assets: "build", fallback: "index.html" }) })],
  server: {
    // `vite dev` on its own: send the API and sockets to a local `wrangler dev`.
    proxy: { "/api": "http://127.0.0.1:8787", "/ws": { target: "ws://127.0.0.1:8787", ws: true } },
  },
});
