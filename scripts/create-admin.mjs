// `npm run create-admin -- --remote`: the first admin (and demo team) in the
// production D1 database after `wrangler d1 migrations apply DB --remote`.
// Without --remote it does the same for the local database.
import { ADMIN_EMAIL, seedFirstAdmin } from "./local.mjs";

const target = process.argv.includes("--remote") ? "remote" : undefined;
const password = seedFirstAdmin(target);
if (password) console.log(`Admin created: ${ADMIN_EMAIL} / ${password}  (shown once; change it after signing in)`);
else console.log("The database already has agents; nothing created.");
