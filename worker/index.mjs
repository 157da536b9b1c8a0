// The Worker's entry: a small shim that runs the Go program (build/memenow.wasm,
// built by `go run ./cmd/memenow-worker/build`) and forwards every request to it.
//
// Go starts lazily in the first request (workerd forbids randomness and timers
// at global scope) and again after it has exited. Each request gets a
// RequestContext, the per-request "pump": Go posts every binding call (D1, R2,
// KV, body reads, the response) to the RequestContext of the request it
// serves, which runs the call in its own request and calls back into Go.
// Goroutines may run while another request's JavaScript entered Go, so Go
// never touches a binding or a stream itself; and a request that waits for Go
// holds a timer so that workerd does not take it for hung. Bodies stay in
// JavaScript: a chunk goes from request.body to R2 uploadPart untouched, and
// a download from R2 get to the Response.
import "./build/wasm_exec.js";
import wasmModule from "./build/memenow.wasm";

let runtime = null; // {handle, resume, exited, active: Set<RequestContext>}
let starting = null;

function startGo(env) {
  const go = new globalThis.Go();
  go.argv = ["memenow-worker"];
  go.env = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") go.env[k] = v;
  const rt = { exited: false, active: new Set() };
  return WebAssembly.instantiate(wasmModule, go.importObject).then((instance) => {
    const ready = new Promise((resolve) => {
      globalThis.__memenowRegister = (api) => {
        rt.handle = api.handle;
        rt.resume = api.resume;
        rt.scheduled = api.scheduled; // undefined when Go runs no scheduled events
        resolve(rt);
      };
    });
    rt.memory = instance.exports.mem;
    rt.debug = env.LOG_LEVEL === "debug";
    go.run(instance).finally(() => {
      rt.exited = true;
      if (runtime === rt) runtime = null;
      for (const rc of rt.active) rc.fail(new Error("the Go program exited"));
    });
    return ready;
  });
}

// getRuntime resolves in the caller's own request: the promise it returns is
// created here, whichever request started Go.
function getRuntime(env) {
  if (runtime && !runtime.exited) return Promise.resolve(runtime);
  if (!starting) {
    starting = startGo(env).then((rt) => { runtime = rt; return rt; })
      .finally(() => { starting = null; });
  }
  const s = starting;
  return new Promise((resolve, reject) => s.then(resolve, reject));
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function errorOf(e, kind) {
  const message = String((e && e.message) || e);
  const m = /\((\d{4,5})\)\s*$/.exec(message) || /\b(10\d{3})\b/.exec(message);
  return { message, code: m ? Number(m[1]) : 0, kind: kind || "" };
}

function describe(obj) {
  if (!obj) return null;
  return JSON.stringify({
    key: obj.key, size: obj.size, httpEtag: obj.httpEtag,
    uploaded: obj.uploaded ? obj.uploaded.getTime() : 0,
    contentType: (obj.httpMetadata && obj.httpMetadata.contentType) || "",
    uploadId: (obj.customMetadata && obj.customMetadata.upload_id) || "",
  });
}

function prepare(db, st) {
  return db.prepare(st.sql).bind(...st.params);
}

// The operations Go posts. Each runs in its RequestContext's own request.
const operations = {
  "body.read": async (rc) => {
    rc.reader ??= rc.request.body.getReader();
    const { done, value } = await rc.reader.read();
    return done ? null : value;
  },
  "d1.query": async (rc, st) => JSON.stringify((await prepare(rc.env.UPLOAD_DB, st).all()).results),
  "d1.batch": async (rc, sts) => {
    const db = rc.env.UPLOAD_DB;
    const res = await db.batch(sts.map((st) => prepare(db, st)));
    return JSON.stringify(res.map((r) => r.results || []));
  },
  "r2.create": async (rc, key, contentType, uploadId) => {
    const mpu = await rc.env.STORAGE_BUCKET.createMultipartUpload(key, {
      httpMetadata: { contentType }, customMetadata: { upload_id: uploadId },
    });
    return mpu.uploadId;
  },
  "r2.uploadPart": async (rc, key, uploadId, part, size, src) => {
    const mpu = rc.env.STORAGE_BUCKET.resumeMultipartUpload(key, uploadId);
    if (src !== "request") return (await mpu.uploadPart(part, src)).etag;
    // Zero-copy: the request's stream, with its length, straight to R2.
    const { readable, writable } = new FixedLengthStream(size);
    let bodyError = null;
    const piped = rc.request.body.pipeTo(writable).catch((e) => { bodyError = e; });
    try {
      const uploaded = await mpu.uploadPart(part, readable);
      await piped;
      return uploaded.etag;
    } catch (e) {
      await piped;
      if (bodyError) throw errorOf(bodyError, "body");
      throw e;
    }
  },
  "r2.complete": async (rc, key, uploadId, parts) =>
    describe(await rc.env.STORAGE_BUCKET.resumeMultipartUpload(key, uploadId).complete(parts)),
  "r2.abort": async (rc, key, uploadId) => {
    await rc.env.STORAGE_BUCKET.resumeMultipartUpload(key, uploadId).abort();
    return null;
  },
  "r2.put": async (rc, key, contentType, uploadId, body) =>
    describe(await rc.env.STORAGE_BUCKET.put(key, body, {
      httpMetadata: { contentType }, customMetadata: { upload_id: uploadId },
    })),
  "r2.head": async (rc, key) => describe(await rc.env.STORAGE_BUCKET.head(key)),
  "r2.delete": async (rc, key) => { await rc.env.STORAGE_BUCKET.delete(key); return null; },
  "r2.get": async (rc, key, offset, length) => {
    const obj = await rc.env.STORAGE_BUCKET.get(key, { range: { offset, length } });
    if (!obj) throw new Error("no object at the key (10007)");
    const id = ++rc.lastStream;
    rc.streams.set(id, obj.body.getReader());
    return id;
  },
  "stream.read": async (rc, id) => {
    const { done, value } = await rc.streams.get(id).read();
    if (done) { rc.streams.delete(id); return null; }
    return value;
  },
  "stream.cancel": async (rc, id) => {
    const reader = rc.streams.get(id);
    rc.streams.delete(id);
    if (reader) await reader.cancel();
    return null;
  },
  "r2.ping": async (rc) => { await rc.env.STORAGE_BUCKET.list({ limit: 1 }); return null; },
  "kv.get": async (rc, key) => rc.env.STORAGE_CONFIG.get(key),
  // The end of a scheduled event (a Cron Trigger): "" or the error's message.
  "scheduled.done": async (rc, message) => {
    rc.scheduledError = message || null;
    rc.finished = true;
    return null;
  },
  // The response. Go starts it with exactly one of respond, respond.stream
  // and respond.r2 (see cfworker/js_http.go): respond is the whole response
  // and ends it; the other two are ended by end.
  respond: async (rc, status, headers, body) => {
    await rc.drain();
    const nullBody = rc.request.method === "HEAD" || NULL_BODY_STATUS.has(status);
    rc.settle(new Response(nullBody ? null : body, { status, headers }));
    rc.finished = true;
    return null;
  },
  // A body Go writes piece by piece: of length bytes, or of unknown length
  // when length is null.
  "respond.stream": async (rc, status, headers, length) => {
    await rc.drain();
    if (rc.request.method === "HEAD" || NULL_BODY_STATUS.has(status)) {
      rc.settle(new Response(null, { status, headers }));
      rc.writer = null; // writes of a HEAD are dropped
      return null;
    }
    const { readable, writable } = length === null ? new TransformStream() : new FixedLengthStream(length);
    rc.writer = writable.getWriter();
    rc.settle(new Response(readable, { status, headers }));
    return null;
  },
  // A body that is length bytes of an R2 object from offset: R2's stream
  // goes to the client as it is, no byte enters Go. The get fails when the
  // object is no longer the one Go described (another ETag).
  "respond.r2": async (rc, status, headers, key, etag, offset, length) => {
    await rc.drain();
    const obj = await rc.env.STORAGE_BUCKET.get(key, { range: { offset, length }, onlyIf: { etagMatches: etag } });
    if (!obj) throw new Error("no object at the key (10007)");
    if (!obj.body) throw new Error("the object changed since it was opened");
    rc.settle(new Response(obj.body, { status, headers }));
    rc.writer = null;
    return null;
  },
  write: async (rc, chunk) => { if (rc.writer) await rc.writer.write(chunk); return null; },
  end: async (rc, ok) => {
    rc.finished = true;
    if (rc.writer) await (ok ? rc.writer.close() : rc.writer.abort(new Error("response failed")));
    return null;
  },
};

class RequestContext {
  constructor(request, env) {
    this.request = request;
    this.env = env;
    this.method = request.method;
    this.url = request.url;
    this.headers = [...request.headers];
    this.hasBody = request.body !== null;
    this.queue = [];
    this.wake = null;
    this.finished = false;
    this.streams = new Map();
    this.lastStream = 0;
    this.response = new Promise((resolve) => { this.settle = resolve; });
  }

  // post is called by Go, possibly while another request's JavaScript is
  // running; it only queues and wakes this request's pump.
  post(id, op, args) {
    this.queue.push([id, op, args]);
    this.poke();
  }

  // poke wakes the pump, if it waits, to run what was posted or to stop.
  poke() {
    if (this.wake) { const w = this.wake; this.wake = null; w(); }
  }

  fail(err) {
    console.error("memenow: request failed:", err && err.message);
    this.failure = err || new Error("request failed");
    this.settle(new Response(JSON.stringify({ error: { code: "INTERNAL_ERROR", message: "internal error", timestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") } }) + "\n",
      { status: 500, headers: { "Content-Type": "application/json" } }));
    this.finished = true;
    this.poke();
  }

  run(op, args) {
    const fn = operations[op];
    let p;
    try {
      p = fn ? Promise.resolve(fn(this, ...args)) : Promise.reject(new Error("unknown operation " + op));
    } catch (e) {
      p = Promise.reject(e);
    }
    return p;
  }

  // pump runs the posted operations in this request until Go is done with
  // it. start hands the request (or scheduled event) to Go.
  async pump(rt, start = () => rt.handle(this)) {
    const keepAlive = setInterval(() => {}, 1000);
    rt.active.add(this);
    try {
      start();
      while (!this.finished || this.queue.length) {
        while (this.queue.length) {
          const [id, op, args] = this.queue.shift();
          this.run(op, args).then(
            (v) => this.resume(rt, id, null, v),
            (e) => this.resume(rt, id, e && e.kind !== undefined && e.code !== undefined ? e : errorOf(e), undefined))
            .finally(() => this.poke());
        }
        if (this.finished && !this.queue.length) break;
        await new Promise((resolve) => { this.wake = resolve; });
      }
    } finally {
      clearInterval(keepAlive);
      rt.active.delete(this);
      for (const r of this.streams.values()) r.cancel().catch(() => {});
      if (rt.debug) console.log(`memenow: wasm memory ${rt.memory.buffer.byteLength} bytes after ${this.method} ${new URL(this.url).pathname}`);
    }
  }

  // drain reads (and drops) what Go left of the request body, such as a
  // refused chunk, before the response: workerd resets a connection whose
  // request body is still coming when the response ends, and the client
  // would see the reset instead of the answer.
  async drain() {
    if (!this.hasBody) return;
    try {
      if (this.reader) {
        while (!(await this.reader.read()).done);
      } else if (!this.request.bodyUsed && !this.request.body.locked) {
        await this.request.body.pipeTo(new WritableStream());
      }
    } catch {
      // The client went away; nothing to answer.
    }
  }

  resume(rt, id, err, val) {
    if (rt.exited) { this.fail(new Error("the Go program exited")); return; }
    try {
      rt.resume(id, err, val === undefined ? null : val);
    } catch (e) {
      this.fail(e);
    }
  }
}

export default {
  async fetch(request, env, ctx) {
    const rt = await getRuntime(env);
    const rc = new RequestContext(request, env);
    const pumping = rc.pump(rt).catch((e) => rc.fail(e));
    ctx.waitUntil(pumping);
    return rc.response;
  },

  // A Cron Trigger ([triggers] crons in wrangler.toml) runs the janitor:
  // expiry of abandoned uploads and repair of interrupted completes and
  // cancels. Its binding calls go through a RequestContext of its own, as
  // a request's do; a failed sweep fails the event.
  async scheduled(controller, env) {
    const rt = await getRuntime(env);
    if (!rt.scheduled) throw new Error("the Go program runs no scheduled events (is its configuration invalid?)");
    const rc = new RequestContext(new Request("https://scheduled.invalid/" + encodeURIComponent(controller.cron || "")), env);
    await rc.pump(rt, () => rt.scheduled(rc, controller.cron || "", controller.scheduledTime));
    if (rc.failure) throw rc.failure;
    if (rc.scheduledError) throw new Error(rc.scheduledError);
  },
};
