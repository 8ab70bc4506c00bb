// Types for `env` and `exports` from "cloudflare:workers" inside tests.
import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
    }
    interface GlobalProps {
      mainModule: typeof import("../index");
      durableNamespaces: "ChatRoom" | "TeamHub";
    }
  }
}
