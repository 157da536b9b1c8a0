#!/usr/bin/env bash
# Runs the Cloudflare Workers build on local workerd (miniflare) for the
# cfworker package's end-to-end tests.
#
#   eval "$(.ci/worker.sh start /tmp/worker)"   # start; prints export lines
#   MEMENOW_REQUIRE_WORKER=1 go test ./cfworker/...
#   .ci/worker.sh stop /tmp/worker                # stop
#   .ci/worker.sh dry-run /tmp/worker-dry-run     # deploy dry run + bridge tests
#
# start DIR installs the locked npm packages (npm ci in worker/), builds the
# wasm (go run ./cmd/memenow-worker/build), starts worker/test/start.mjs on a
# free port of 127.0.0.1 with R2, D1 and KV persisted under DIR/state, and
# prints an export line for MEMENOW_TEST_WORKER_URL. Extra arguments after
# DIR go to start.mjs (e.g. --kv-config JSON, --vars JSON). npm ci runs only
# when worker/package-lock.json changed since the last install;
# MEMENOW_WORKER_SKIP_BUILD=1 reuses the wasm already built. Everything else goes to
# stderr; the Worker's log is DIR/worker.log. stop DIR stops it.
#
# npm ci never runs under a running Worker unless the lock file changed, and
# the wasm is rebuilt in place: a running Worker has already loaded it.
#
# dry-run DIR walks worker/README.md's deploy as far as it goes without a
# Cloudflare account: npm ci (when the lock changed), the wasm build (unless
# MEMENOW_WORKER_SKIP_BUILD=1), `wrangler deploy --dry-run --outdir DIR`
# (bundles the Worker and checks wrangler.toml offline), then the bridge's
# tests under Node (GOOS=js GOARCH=wasm go test -exec go_js_wasm_exec).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false MINIFLARE_TELEMETRY_DISABLED=true

log() { echo "worker: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# prepare installs the locked npm packages when the lock file changed since
# the last install, and builds the wasm unless MEMENOW_WORKER_SKIP_BUILD=1.
prepare() {
	command -v npm >/dev/null || die "npm is not installed"
	# Install and build once: a second Worker started in the same run (with
	# other variables) reuses node_modules and the wasm.
	local lock_sum
	lock_sum=$(sha256sum worker/package-lock.json | cut -d' ' -f1)
	if [[ $(cat worker/node_modules/.memenow-lock 2>/dev/null) != "$lock_sum" ]]; then
		log "npm ci"
		(cd worker && npm ci --no-audit --no-fund --loglevel=error) >&2
		echo "$lock_sum" >worker/node_modules/.memenow-lock
	fi
	if [[ ${MEMENOW_WORKER_SKIP_BUILD:-} != 1 ]]; then
		log "building the wasm"
		go run ./cmd/memenow-worker/build >&2
	fi
}

start() {
	local dir=$1
	shift
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "already running in $dir (pid $(cat "$dir/pid"))"
	fi
	prepare
	: >"$dir/worker.log"
	(cd worker && exec node test/start.mjs --persist "$dir/state" "$@") >"$dir/worker.log" 2>&1 &
	echo $! >"$dir/pid"
	local url=""
	for _ in $(seq 1 300); do
		url=$(sed -n 's/^MEMENOW_TEST_WORKER_URL=//p' "$dir/worker.log" | head -1)
		[[ -n $url ]] && break
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "start.mjs exited: $(tail -20 "$dir/worker.log")"
		sleep 0.1
	done
	[[ -n $url ]] || die "the Worker did not start in 30 s: $(tail -20 "$dir/worker.log")"
	log "listening on $url (log: $dir/worker.log)"
	echo "export MEMENOW_TEST_WORKER_URL=$url"
}

stop() {
	local dir=$1
	[[ -f $dir/pid ]] || return 0
	local pid
	pid=$(cat "$dir/pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$dir/pid"
}

dry_run() {
	local dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	prepare
	log "wrangler deploy --dry-run --outdir $dir"
	(cd worker && npx --no-install wrangler deploy --dry-run --outdir "$dir") >&2
	[[ -s $dir/index.js ]] || die "wrangler wrote no bundle to $dir"
	log "bridge tests under Node"
	GOOS=js GOARCH=wasm go test -count=1 -exec "$(go env GOROOT)/lib/wasm/go_js_wasm_exec" ./cfworker >&2
}

case "${1:-}" in
start) [[ $# -ge 2 ]] || die "usage: $0 start DIR [start.mjs args]"; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
dry-run) [[ $# -eq 2 ]] || die "usage: $0 dry-run DIR"; dry_run "$2" ;;
*) die "usage: $0 start DIR | stop DIR | dry-run DIR" ;;
esac
