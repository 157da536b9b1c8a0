// Measures the Worker on local workerd: cold first request (wasm start and
// D1 migrations included), warm p50 of status and of a 5 MiB chunk, and the
// wasm memory after 32 concurrent 5 MiB chunks (zero-copy bodies keep it
// small). Build first (go run ./cmd/memenow-worker/build), then:
//   node test/measure.mjs
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MiB = 1 << 20;

async function start(logLevel, onLog) {
  const persist = mkdtempSync(join(tmpdir(), "memenow-measure-"));
  const mf = new Miniflare({
    rootPath: root, scriptPath: join(root, "index.mjs"), modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    compatibilityDate: "2025-09-01", host: "127.0.0.1", port: 0, cf: false,
    bindings: { ALLOWED_ORIGINS: "*", LOG_LEVEL: logLevel },
    r2Buckets: ["STORAGE_BUCKET"], d1Databases: { UPLOAD_DB: "00000000-0000-0000-0000-000000000000" },
    kvNamespaces: { STORAGE_CONFIG: "00000000000000000000000000000000" },
    r2Persist: join(persist, "r2"), d1Persist: join(persist, "d1"), kvPersist: join(persist, "kv"),
    handleRuntimeStdio: (out, err) => { out.on("data", (d) => onLog && onLog(String(d))); err.on("data", () => {}); },
    handleStructuredLogs: ({ message }) => onLog && onLog(message),
  });
  const url = (await mf.ready).origin;
  return { url, stop: async () => { await mf.dispose(); rmSync(persist, { recursive: true, force: true }); } };
}

async function json(res) {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

let seq = 0;
async function init(url, size) {
  return json(await fetch(url + "/api/upload/init", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ file_name: `m${++seq}.bin`, total_size: size, user_id: "measure", user_role: "creator", chunk_size: 5 * MiB }),
  }));
}

async function putChunk(url, id, index, data) {
  return json(await fetch(url + "/api/upload/chunk", {
    method: "PUT", headers: { "X-Upload-Id": id, "X-Chunk-Index": String(index), "Content-Type": "application/octet-stream" }, body: data,
  }));
}

function p50(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const wasm = readFileSync(join(root, "build", "memenow.wasm"));
console.log(`bundle: memenow.wasm ${wasm.length} bytes raw, ${gzipSync(wasm, { level: 9 }).length} bytes gzipped`);

const w = await start("info");
const cold = await timed(async () => json(await fetch(w.url + "/health")));
console.log(`cold first request (GET /health: wasm start + D1 migrations): ${cold.toFixed(1)} ms`);

const chunk = new Uint8Array(5 * MiB).map((_, i) => i * 7);
const up = await init(w.url, 64 * 5 * MiB);
await putChunk(w.url, up.upload_id, 0, chunk);
const status = [];
for (let i = 0; i < 200; i++) status.push(await timed(async () => json(await fetch(`${w.url}/api/upload/${up.upload_id}/status`))));
console.log(`warm status p50: ${p50(status).toFixed(2)} ms (200 requests)`);
const chunks = [];
for (let i = 1; i < 41; i++) chunks.push(await timed(() => putChunk(w.url, up.upload_id, i, chunk)));
console.log(`warm 5 MiB chunk p50: ${p50(chunks).toFixed(2)} ms (40 chunks, ${(5 / (p50(chunks) / 1000)).toFixed(0)} MiB/s)`);
await w.stop();

let memory = [];
const d = await start("debug", (text) => {
  for (const m of text.matchAll(/wasm memory (\d+) bytes/g)) memory.push(Number(m[1]));
});
const up2 = await init(d.url, 32 * 5 * MiB);
await Promise.all(Array.from({ length: 32 }, (_, i) => putChunk(d.url, up2.upload_id, i, chunk)));
await new Promise((r) => setTimeout(r, 500));
console.log(`wasm memory after 32 concurrent 5 MiB chunks: max ${(Math.max(...memory) / MiB).toFixed(1)} MiB over ${memory.length} requests`);
await d.stop();
