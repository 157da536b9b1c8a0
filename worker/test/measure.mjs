// Measures the Worker on local workerd: cold first request (wasm start and
// D1 migrations included), warm p50 of status and of a 5 MiB chunk, the
// CPU time workerd spends per MiB downloaded (whole file and one range), and
// the wasm memory after 32 concurrent 5 MiB chunks (zero-copy bodies keep it
// small). Build first (go run ./cmd/memenow-worker/build), then:
//   node test/measure.mjs
//
// The CPU time is the workerd process's (user + system, from /proc, Linux
// only) over the downloads: it includes local R2's own reads and the HTTP
// output, so compare it with the R2-only line, a Worker that returns R2's
// body itself.
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const MiB = 1 << 20;

async function start(logLevel, onLog, script) {
  const persist = mkdtempSync(join(tmpdir(), "memenow-measure-"));
  const mf = new Miniflare({
    rootPath: root, modules: true,
    ...(script ? { script } : { scriptPath: join(root, "index.mjs") }),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }, { type: "ESModule", include: ["**/*.js", "**/*.mjs"] }],
    compatibilityDate: "2025-09-01", host: "127.0.0.1", port: 0, cf: false,
    bindings: { ALLOWED_ORIGINS: "*", LOG_LEVEL: logLevel },
    r2Buckets: ["STORAGE_BUCKET"], d1Databases: { UPLOAD_DB: "00000000-0000-0000-0000-000000000000" },
    kvNamespaces: { STORAGE_CONFIG: "00000000000000000000000000000000" },
    r2Persist: join(persist, "r2"), d1Persist: join(persist, "d1"), kvPersist: join(persist, "kv"),
    handleRuntimeStdio: (out, err) => { out.on("data", (d) => onLog && onLog(String(d))); err.on("data", (d) => process.env.MEASURE_DEBUG && process.stderr.write(d)); },
    handleStructuredLogs: ({ message }) => onLog && onLog(message),
  });
  const url = (await mf.ready).origin;
  return { url, mf, stop: async () => { await mf.dispose(); rmSync(persist, { recursive: true, force: true }); } };
}

// cpuSeconds is the user + system CPU time of this process's children (the
// workerd that miniflare started), from /proc; null where there is none.
function cpuSeconds() {
  let ticks = 0, found = false;
  try {
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      let stat;
      try { stat = readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { continue; }
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) !== process.pid) continue; // f[1] is the parent pid
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
      found = true;
    }
  } catch { return null; }
  return found ? ticks / 100 : null; // USER_HZ is 100 on Linux
}

// downloadCPU fetches url n times (with headers) and returns the workerd
// CPU milliseconds per MiB received.
async function downloadCPU(url, n, headers = {}) {
  const before = cpuSeconds();
  let bytes = 0;
  for (let i = 0, retries = 0; i < n; i++) {
    let res;
    try {
      res = await fetch(url, { headers });
    } catch (e) {
      // workerd now and then closes a kept-alive connection as the next
      // request starts ("other side closed"): send that request again.
      if (++retries > 3) throw e;
      i--;
      continue;
    }
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
    bytes += (await res.arrayBuffer()).byteLength;
  }
  const after = cpuSeconds();
  return before === null ? null : ((after - before) * 1000) / (bytes / MiB);
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

// Downloads: a 64 MiB file read 8 times whole and 16 times as a 16 MiB range.
const fileSize = 64 * MiB;
const file = await init(w.url, fileSize);
for (let i = 0; i * 5 * MiB < fileSize; i++) await putChunk(w.url, file.upload_id, i, chunk.subarray(0, Math.min(5 * MiB, fileSize - i * 5 * MiB)));
const done = await json(await fetch(w.url + "/api/upload/complete", {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ upload_id: file.upload_id }),
}));
const fileURL = w.url + "/api/files/" + done.r2_key.split("/").map(encodeURIComponent).join("/");
await downloadCPU(fileURL, 1); // warm
const whole = await downloadCPU(fileURL, 8);
const ranged = await downloadCPU(fileURL, 16, { Range: `bytes=${8 * MiB}-${24 * MiB - 1}` });
if (process.env.MEASURE_DEBUG) {
  const c0 = cpuSeconds();
  for (let i = 0; i < 8; i++) await (await fetch(fileURL, { method: "HEAD" })).arrayBuffer();
  console.log(`HEAD: ${((cpuSeconds() - c0) * 1000 / 8).toFixed(1)} ms CPU per request`);
  const c1 = cpuSeconds();
  await new Promise((r) => setTimeout(r, 2000));
  console.log(`idle: ${((cpuSeconds() - c1) * 1000 / 2).toFixed(1)} ms CPU per second`);
  const c2 = cpuSeconds(), t2 = performance.now();
  await (await fetch(fileURL)).arrayBuffer();
  console.log(`one download: ${((cpuSeconds() - c2) * 1000).toFixed(0)} ms CPU, ${(performance.now() - t2).toFixed(0)} ms wall`);
}
if (whole === null) console.log("download CPU: not measured (no /proc)");
else console.log(`download CPU (workerd user+system): ${whole.toFixed(2)} ms/MiB whole file, ${ranged.toFixed(2)} ms/MiB 16 MiB range (512 MiB and 256 MiB read)`);
await w.stop();

// The same download from a Worker that only returns R2's body: the floor.
const bare = await start("info", null, `export default { async fetch(req, env) {
  const key = decodeURIComponent(new URL(req.url).pathname.slice(1));
  if (req.method === "PUT") { await env.STORAGE_BUCKET.put(key, req.body); return new Response("ok"); }
  const obj = await env.STORAGE_BUCKET.get(key);
  return new Response(obj.body, { headers: { "Content-Length": String(obj.size) } });
} };`);
await fetch(bare.url + "/f", { method: "PUT", body: new Uint8Array(fileSize).map((_, i) => i * 7) });
await downloadCPU(bare.url + "/f", 1);
const floor = await downloadCPU(bare.url + "/f", 8);
if (floor !== null) console.log(`download CPU of a Worker returning R2's body itself: ${floor.toFixed(2)} ms/MiB`);
await bare.stop();

let memory = [];
const d = await start("debug", (text) => {
  for (const m of text.matchAll(/wasm memory (\d+) bytes/g)) memory.push(Number(m[1]));
});
const up2 = await init(d.url, 32 * 5 * MiB);
await Promise.all(Array.from({ length: 32 }, (_, i) => putChunk(d.url, up2.upload_id, i, chunk)));
await new Promise((r) => setTimeout(r, 500));
console.log(`wasm memory after 32 concurrent 5 MiB chunks: max ${(Math.max(...memory) / MiB).toFixed(1)} MiB over ${memory.length} requests`);
await d.stop();
