import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
          // Test-only secrets; real ones come from .dev.vars or `wrangler secret`.
          VISITOR_TOKEN_SECRET: "test-visitor-token-secret-0123456789abcdef",
          FILE_URL_SECRET: "test-file-url-secret-0123456789abcdef012345",
        },
      },
    }),
  ],
  test: {
    include: ["worker/test/**/*.test.ts"],
    setupFiles: ["./worker/test/apply-migrations.ts"],
  },
}));
