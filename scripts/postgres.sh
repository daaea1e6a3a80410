#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (issue 14, point 7).
#
#   scripts/postgres.sh start DIR   initdb into DIR (created if missing), start
#                                   a server on a free 127.0.0.1 port and print
#                                     EDGETRUST_TEST_POSTGRES=postgres://…
#                                     EDGETRUST_TEST_POSTGRES_DIR=DIR
#                                   on stdout (for eval); progress goes to stderr
#   scripts/postgres.sh stop DIR    stop that server and remove DIR
#   scripts/postgres.sh pause DIR   stop that server (fast shutdown: clients are
#                                   disconnected, every committed change is
#                                   kept) and keep DIR
#   scripts/postgres.sh resume DIR  start it again on the same port and data,
#                                   so that its clients reconnect to the same URL
#
# The server binaries are Debian's, in /usr/lib/postgresql/*/bin (not on
# PATH); the newest found is used. When there is none, the package
# "postgresql" is installed with apt-get (run as root), and only then.
# initdb and postgres refuse to run as root: as root they run as the user
# postgres through runuser, and DIR is given to that user; as anyone else
# they run as that user.
#
# The server is for tests only: it trusts every local connection, listens
# on loopback only, keeps its socket in DIR and runs without fsync.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then
		echo "$d"
	fi
}

install_server() {
	[ "$(id -u)" -eq 0 ] || die "no PostgreSQL server in /usr/lib/postgresql/*/bin; install Debian's postgresql package (apt-get install postgresql) or run this as root"
	echo "postgres.sh: no PostgreSQL server found; installing Debian's postgresql" >&2
	apt-get update >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
}

# serve starts the server of DIR on PORT (pg_ctl -w: it is up when this
# returns 0).
serve() {
	local bin=$1 dir=$2 port=$3
	as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s \
		-o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >&2
}

# as runs a server binary as the user that may run it.
as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	local dir=$1 bin port url tries=0
	bin=$(bindir)
	if [ -z "$bin" ]; then
		install_server
		bin=$(bindir)
		[ -n "$bin" ] || die "installed postgresql, but there is still no server in /usr/lib/postgresql/*/bin"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/data" ] || die "$dir already holds a server: stop it first ($0 stop $dir)"
	# The socket path must stay under the 108 bytes of sun_path.
	[ ${#dir} -le 80 ] || die "$dir: too long for the server's socket; use a shorter directory"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "there is no user postgres to run the server as"
		chown postgres: "$dir"
	fi
	chmod 0700 "$dir"
	as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -n 5 "$dir/initdb.log" | tr '\n' ' ')"
	# A port another process takes between the pick and the bind makes the
	# start fail: pick another and try again.
	while :; do
		tries=$((tries + 1))
		port=$((20000 + RANDOM % 40000))
		if command -v ss >/dev/null && ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
			continue
		fi
		if serve "$bin" "$dir" "$port"; then
			break
		fi
		[ "$tries" -lt 5 ] || die "the server did not start: $(tail -n 5 "$dir/server.log" | tr '\n' ' ')"
	done
	"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30 || die "the server on port $port is not ready"
	as "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -c 'CREATE DATABASE edgetrust' >&2
	url="postgres://postgres@127.0.0.1:$port/edgetrust?sslmode=disable"
	echo "$url" >"$dir/url"
	echo "$port" >"$dir/port"
	echo "postgres.sh: PostgreSQL ($bin) on 127.0.0.1:$port, data in $dir" >&2
	echo "EDGETRUST_TEST_POSTGRES=$url"
	echo "EDGETRUST_TEST_POSTGRES_DIR=$dir"
}

stop() {
	local dir=$1 bin
	[ -d "$dir" ] || return 0
	bin=$(bindir)
	if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
		as "$bin/pg_ctl" -D "$dir/data" -m immediate -w -s stop >&2 || true
	fi
	rm -rf "$dir"
}

pause() {
	local dir=$1 bin
	bin=$(bindir)
	[ -n "$bin" ] || die "no PostgreSQL server in /usr/lib/postgresql/*/bin"
	[ -f "$dir/data/postmaster.pid" ] || die "no server runs in $dir"
	as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >&2
}

resume() {
	local dir=$1 bin port
	bin=$(bindir)
	[ -n "$bin" ] || die "no PostgreSQL server in /usr/lib/postgresql/*/bin"
	[ -f "$dir/port" ] || die "$dir holds no server started by $0 start"
	[ ! -f "$dir/data/postmaster.pid" ] || die "the server of $dir runs already"
	port=$(cat "$dir/port")
	serve "$bin" "$dir" "$port" || die "the server did not start again on port $port: $(tail -n 5 "$dir/server.log" | tr '\n' ' ')"
}

case "${1:-}" in
start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
pause) [ $# -eq 2 ] || die "usage: $0 pause DIR"; pause "$2" ;;
resume) [ $# -eq 2 ] || die "usage: $0 resume DIR"; resume "$2" ;;
*) die "usage: $0 start DIR | stop DIR | pause DIR | resume DIR" ;;
esac
