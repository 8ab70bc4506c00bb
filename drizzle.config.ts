import { defineConfig } from "drizzle-kit";

// drizzle-kit 0.31 writes flat migrations/NNNN_name.sql, which both
// `wrangler d1 migrations apply` and the vitest plugin's readD1Migrations read.
export default defineConfig({
  dialect: "sqlite",
  schema: "./worker/db/schema.ts",
  out: "./migrations",
});
