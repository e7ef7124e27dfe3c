#!/usr/bin/env bash
# pg.sh — a throwaway PostgreSQL cluster for the tests.
#
#   source scripts/pg.sh
#   pg_start   # installs Debian's postgresql if needed (as root), starts a
#              # cluster on 127.0.0.1, exports RGRID_TEST_POSTGRES_URL
#   pg_stop    # stops it and removes its directory
#
# Called as a script: scripts/pg.sh start|stop (stop needs the variables
# that start printed, so sourcing is the usual way).

_pg_log() { echo "pg.sh: $*" >&2; }

# _pg_bindir prints the directory holding initdb: PATH first, else the
# newest /usr/lib/postgresql/*/bin.
_pg_bindir() {
	local p
	if p=$(command -v initdb 2>/dev/null); then
		dirname "$(readlink -f "$p")"
		return 0
	fi
	p=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [[ -n "$p" && -x "$p/initdb" ]]; then
		echo "$p"
		return 0
	fi
	return 1
}

_pg_install() {
	if [[ $(id -u) -ne 0 ]]; then
		_pg_log "PostgreSQL is not installed; install it first: sudo apt-get install -y postgresql"
		return 1
	fi
	_pg_log "installing PostgreSQL from Debian's packages"
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

# _pg_as runs a command as the cluster's owner.
_pg_as() {
	if [[ -n "${_PG_USER:-}" ]]; then
		runuser -u "$_PG_USER" -- "$@"
	else
		"$@"
	fi
}

# _pg_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
_pg_free_port() {
	local port i
	# Below the kernel's ephemeral range (32768 and up), where outgoing
	# connections take their local ports.
	port=$((10000 + RANDOM % 20000))
	for ((i = 0; i < 200; i++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
		port=$((port + 1))
	done
	return 1
}

pg_start() {
	local bindir port
	if ! bindir=$(_pg_bindir); then
		_pg_install || return 1
		bindir=$(_pg_bindir) || {
			_pg_log "initdb not found after installing postgresql"
			return 1
		}
	fi

	_PG_USER=
	if [[ $(id -u) -eq 0 ]]; then
		# PostgreSQL refuses to run as root.
		if id postgres >/dev/null 2>&1; then
			_PG_USER=postgres
		else
			id rgrid-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin rgrid-pg || return 1
			_PG_USER=rgrid-pg
		fi
	fi

	local base=${TMPDIR:-/tmp}
	# The cluster's owner must reach the directory; root's TMPDIR may be private.
	if [[ -n "$_PG_USER" ]]; then base=/tmp; fi
	PG_TMPDIR=$(mktemp -d "$base/rgrid-pg.XXXXXX") || return 1
	chmod 0755 "$PG_TMPDIR"
	if [[ -n "$_PG_USER" ]]; then chown "$_PG_USER" "$PG_TMPDIR" || return 1; fi
	PG_BINDIR=$bindir
	export PG_TMPDIR PG_BINDIR _PG_USER

	if ! _pg_as "$bindir/initdb" -D "$PG_TMPDIR/data" -A trust -U postgres --no-sync \
		-E UTF8 --locale=C.UTF-8 >"$PG_TMPDIR/initdb.log" 2>&1; then
		_pg_log "initdb failed:"
		cat "$PG_TMPDIR/initdb.log" >&2
		return 1
	fi

	# A port that looked free can still be taken before the server binds
	# it (by another test's listener): try a few.
	local try started=
	for ((try = 0; try < 5; try++)); do
		port=$(_pg_free_port) || {
			_pg_log "no free TCP port found"
			return 1
		}
		if _pg_as "$bindir/pg_ctl" -D "$PG_TMPDIR/data" -l "$PG_TMPDIR/server.log" -w -t 60 \
			-o "-p $port -k $PG_TMPDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			start >/dev/null; then
			started=1
			break
		fi
	done
	if [[ -z "$started" ]]; then
		_pg_log "PostgreSQL did not start:"
		cat "$PG_TMPDIR/server.log" >&2
		return 1
	fi

	local i
	for ((i = 0; i < 60; i++)); do
		"$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
		sleep 0.5
	done
	if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
		_pg_log "PostgreSQL is not accepting connections on port $port"
		return 1
	fi

	export RGRID_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	_pg_log "PostgreSQL ($(basename "$(dirname "$bindir")")) is up: $RGRID_TEST_POSTGRES_URL"
}

pg_stop() {
	if [[ -z "${PG_TMPDIR:-}" || ! -d "$PG_TMPDIR" ]]; then
		return 0
	fi
	_pg_as "$PG_BINDIR/pg_ctl" -D "$PG_TMPDIR/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$PG_TMPDIR"
	unset PG_TMPDIR RGRID_TEST_POSTGRES_URL
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-}" in
	start)
		pg_start
		echo "export PG_TMPDIR=$PG_TMPDIR PG_BINDIR=$PG_BINDIR _PG_USER=$_PG_USER RGRID_TEST_POSTGRES_URL='$RGRID_TEST_POSTGRES_URL'"
		;;
	stop) pg_stop ;;
	*)
		echo "usage: $0 start|stop" >&2
		exit 2
		;;
	esac
fi
