#!/usr/bin/env bash
# Runs a throw-away local PostgreSQL cluster for the postgres package's tests
# and the multi-instance test.
#
#   eval "$(.ci/postgres.sh start /tmp/pg)"   # start; prints export lines
#   MEMENOW_REQUIRE_POSTGRES=1 go test ./postgres/... ./multiinstance/...
#   .ci/postgres.sh stop /tmp/pg               # stop
#
# start DIR installs PostgreSQL from apt when no initdb is found, creates a
# cluster in DIR/data owned by the postgres user (initdb refuses to run as
# root), starts it on a free port of 127.0.0.1 only with its socket in
# DIR/sock, creates the database "memenow" and prints export lines for
# MEMENOW_TEST_POSTGRES_URL and MEMENOW_TEST_POSTGRES_DATA (the data dir, for
# tests that stop and start the server with pg_ctl) and
# MEMENOW_TEST_POSTGRES_BIN (the folder of pg_ctl). Everything else goes to
# stderr; the server log is DIR/postgres.log. It exits non-zero when the
# server cannot start. stop DIR stops it; the files stay until DIR is removed.
set -euo pipefail

DATABASE=memenow

log() { echo "postgres: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# pg_bin prints the newest /usr/lib/postgresql/*/bin holding initdb.
pg_bin() {
	local bins
	bins=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V || true)
	for b in $bins; do
		[[ -x $b/initdb ]] && echo "$b"
	done | tail -1
}

ensure_installed() {
	if [[ -z $(pg_bin) ]]; then
		log "installing postgresql from apt"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get update -qq && apt-get install -y -qq postgresql; } >&2 || die "apt-get install postgresql failed"
	fi
	[[ -n $(pg_bin) ]] || die "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
}

# as_postgres runs a command as the postgres user when we are root.
as_postgres() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# let_postgres_in DIR lets the postgres user traverse every parent of DIR
# (mktemp -d makes 0700 folders), adding o+x only where it is missing.
let_postgres_in() {
	local p=$1
	while [[ $p != / ]]; do
		p=$(dirname "$p")
		if ! runuser -u postgres -- test -x "$p"; then
			log "adding o+x to $p so that the postgres user can reach its cluster"
			chmod o+x "$p"
		fi
	done
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

start() {
	local dir=$1 bin port
	ensure_installed
	bin=$(pg_bin)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f $dir/data/postmaster.pid ]] && as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		die "a server from $dir is already running; run: $0 stop $dir"
	fi
	mkdir -p "$dir/sock"
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$dir" "$dir/sock"
		let_postgres_in "$dir"
		# runuser keeps the working directory; one postgres cannot enter breaks initdb.
		cd /
	fi
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >"$dir/initdb.log" 2>&1 ||
			die "initdb failed: $(tail -5 "$dir/initdb.log")"
	fi
	for attempt in 1 2 3; do
		port=$(free_port)
		echo "$port" >"$dir/port"
		if as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c max_connections=200" >&2; then
			if ! as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
				"SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
				as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DATABASE" >&2 ||
					die "createdb $DATABASE failed"
			fi
			log "PostgreSQL ($bin) serves $dir/data on 127.0.0.1:$port"
			cat <<EOF
export MEMENOW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/$DATABASE?sslmode=disable
export MEMENOW_TEST_POSTGRES_DATA=$dir/data
export MEMENOW_TEST_POSTGRES_BIN=$bin
EOF
			return 0
		fi
		log "pg_ctl start failed (attempt $attempt, port $port): $(tail -3 "$dir/postgres.log" 2>/dev/null)"
	done
	die "PostgreSQL could not start; log: $dir/postgres.log"
}

stop() {
	local dir=$1 bin
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		log "no cluster in $dir"
		return 0
	fi
	bin=$(pg_bin)
	[[ -n $bin ]] || die "no pg_ctl found"
	dir=$(cd "$dir" && pwd)
	cd /
	if as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || die "pg_ctl stop failed"
		log "stopped PostgreSQL in $dir/data"
	else
		log "PostgreSQL in $dir/data is not running"
	fi
}

case "${1:-}:${2:-}" in
start:?*) start "$2" ;;
stop:?*) stop "$2" ;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
