#!/usr/bin/env bash
# Runs a real local S3 server (versitygw, posix backend) for the s3 package's tests.
#
#   eval "$(.ci/s3-server.sh start /tmp/s3)"   # start; prints export lines
#   MEMENOW_REQUIRE_S3=1 go test ./s3/...
#   .ci/s3-server.sh stop /tmp/s3               # stop
#
# start DIR installs versitygw v1.8.0 when it is missing, keeps its objects in
# DIR/data, its log in DIR/versitygw.log and its pid in DIR/pid, listens on a
# free port of 127.0.0.1 only, creates the test bucket and prints export lines
# for MEMENOW_TEST_S3_ENDPOINT, MEMENOW_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION and MEMENOW_TEST_S3_PID. Everything else
# goes to stderr. It exits non-zero when the server cannot start.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
ACCESS_KEY=memenow-test-access
SECRET_KEY=memenow-test-secret-key
REGION=us-east-1
BUCKET=memenow-test

log() { echo "s3-server: $*" >&2; }
die() { log "$*"; exit 1; }

versitygw_bin() {
	if command -v versitygw >/dev/null 2>&1; then
		command -v versitygw
		return
	fi
	local bin
	bin="$(go env GOPATH)/bin/versitygw"
	if [[ ! -x $bin ]]; then
		log "installing versitygw $VERSITYGW_VERSION (a few minutes on empty caches)"
		go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >&2 || die "go install versitygw failed"
	fi
	echo "$bin"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! port_in_use "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# answers PORT: versitygw replies (403 to an anonymous request) once it listens.
answers() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/" || true)
	[[ $code != 000 && -n $code ]]
}

create_bucket() {
	local port=$1 dir=$2 code
	code=$(curl -s -o "$dir/create-bucket.out" -w '%{http_code}' --max-time 10 -X PUT \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"http://127.0.0.1:$port/$BUCKET" || true)
	case $code in
	200 | 409) ;; # 409: BucketAlreadyOwnedByYou on a restart with the same DIR
	*) die "creating bucket $BUCKET failed with HTTP $code: $(cat "$dir/create-bucket.out" 2>/dev/null)" ;;
	esac
}

start() {
	local dir=$1 bin port pid
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	if [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a server from $dir is already running (pid $(cat "$dir/pid")); run: $0 stop $dir"
	fi
	bin=$(versitygw_bin)
	for attempt in 1 2 3; do
		port=$(free_port)
		ROOT_ACCESS_KEY_ID= ROOT_SECRET_ACCESS_KEY= \
			nohup "$bin" --access "$ACCESS_KEY" --secret "$SECRET_KEY" --region "$REGION" \
			--port "127.0.0.1:$port" --quiet posix "$dir/data" \
			>"$dir/versitygw.log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$dir/pid"
		for _ in $(seq 120); do # 60 s
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if answers "$port"; then
				create_bucket "$port" "$dir"
				log "versitygw (pid $pid) serves $dir/data on http://127.0.0.1:$port"
				cat <<EOF
export MEMENOW_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export MEMENOW_TEST_S3_BUCKET=$BUCKET
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export MEMENOW_TEST_S3_PID=$pid
EOF
				return 0
			fi
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			rm -f "$dir/pid"
			die "versitygw did not answer on port $port within 60 s; log: $dir/versitygw.log"
		fi
		rm -f "$dir/pid"
		log "versitygw exited at start (attempt $attempt, port $port): $(tail -3 "$dir/versitygw.log")"
	done
	die "versitygw could not start; log: $dir/versitygw.log"
}

stop() {
	local dir=$1 pid
	if [[ ! -f $dir/pid ]]; then
		log "no server recorded in $dir"
		return 0
	fi
	pid=$(cat "$dir/pid")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$dir/pid"
	log "stopped versitygw (pid $pid)"
}

case "${1:-}:${2:-}" in
start:?*) start "$2" ;;
stop:?*) stop "$2" ;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
