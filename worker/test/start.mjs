// Starts the Worker on local workerd through miniflare, listening on
// 127.0.0.1 with real local R2, D1 and KV persisted under a folder, prints
// "MEMENOW_TEST_WORKER_URL=<url>" and runs until SIGINT or SIGTERM.
//
//   node test/start.mjs [--persist DIR] [--port N] [--kv-config JSON] [--vars JSON]
//
// --kv-config stores JSON (or any text) under the KV key "config" first;
// without it the config is {"max_request_body": 1073741824} (see below).
// --vars adds text bindings (variables and secrets, e.g. JWT_SECRET) as a
// JSON object of strings. GET /cdn-cgi/handler/scheduled?cron=…&time=MS on
// the printed URL fires the Worker's scheduled event (the janitor) as of
// time MS (unix milliseconds). The test routes of cmd/memenow-worker
// (MEMENOW_TEST_ROUTES=1) are on.
import { Miniflare } from "miniflare";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    persist: { type: "string" },
    port: { type: "string", default: "0" },
    "kv-config": { type: "string" },
    vars: { type: "string" },
  },
});
const persist = values.persist || mkdtempSync(join(tmpdir(), "memenow-worker-"));

const mf = new Miniflare({
  rootPath: root,
  scriptPath: join(root, "index.mjs"),
  modules: true,
  modulesRules: [
    { type: "CompiledWasm", include: ["**/*.wasm"] },
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
  ],
  compatibilityDate: "2025-09-01",
  host: "127.0.0.1",
  port: Number(values.port),
  cf: false,
  // GET /cdn-cgi/handler/scheduled?cron=…&time=MS fires the scheduled
  // handler (the janitor's Cron Trigger) as of time, for the tests.
  unsafeTriggerHandlers: true,
  bindings: {
    ALLOWED_ORIGINS: "*",
    LOG_LEVEL: process.env.LOG_LEVEL || "info",
    // GET /__test/stream?bytes=N (cmd/memenow-worker's testRoutes).
    MEMENOW_TEST_ROUTES: "1",
    ...(values.vars ? JSON.parse(values.vars) : {}),
  },
  r2Buckets: ["STORAGE_BUCKET"],
  d1Databases: { UPLOAD_DB: "00000000-0000-0000-0000-000000000000" },
  kvNamespaces: { STORAGE_CONFIG: "00000000000000000000000000000000" },
  r2Persist: join(persist, "r2"),
  d1Persist: join(persist, "d1"),
  kvPersist: join(persist, "kv"),
});

const url = await mf.ready;
if (values["kv-config"] !== undefined) {
  await (await mf.getKVNamespace("STORAGE_CONFIG")).put("config", values["kv-config"]);
}
console.log(`MEMENOW_TEST_WORKER_URL=${url.origin}`);
console.log(`MEMENOW_TEST_WORKER_PERSIST=${persist}`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
