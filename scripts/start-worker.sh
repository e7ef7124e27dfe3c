#!/usr/bin/env bash
# start-worker.sh — check that a worker machine is ready, then run
# `rgrid worker` in the foreground (for a terminal, a container's entry
# point, or systemd: see rgrid-worker.service beside this script).
#
#   scripts/start-worker.sh [extra rgrid worker flags…]
#
# Settings come from the environment and from an env file: ./.env, or the
# file $RGRID_ENV_FILE names. A variable already set in the environment wins
# over the file. rgrid reads every RGRID_* variable itself (a setting's
# variable is its flag's name: --slots is RGRID_SLOTS), so this script only
# exports them. The usual ones:
#
#   RGRID_SERVER=https://control:8443  the server (required)
#   RGRID_TOKEN=…                      the server's API token, if it has one
#   RGRID_CA_CERT=/etc/rgrid/ca.pem    the CA of a server under a private CA
#   RGRID_SLOTS=4                      jobs at once
#   RGRID_MEMORY=1g RGRID_CPUS=2       defaults for jobs that set no limit
#   RGRID_EXECUTOR=docker              or process (no isolation)
#   RGRID_WORKER_ID=…                  default: kept in the data directory
#   RGRID_BIN=/usr/local/bin/rgrid     default: rgrid on PATH, else built
#                                      from the source tree this script is in
#
# Before starting it checks that the Docker engine answers (unless
# RGRID_EXECUTOR=process) and that the server answers and accepts the
# token, and says what to fix when not. Exit status 2: a check failed.
set -euo pipefail

say() { echo "start-worker: $*" >&2; }
fail() {
	say "$1"
	shift
	local line
	for line in "$@"; do echo "  fix: $line" >&2; done
	exit 2
}

# load_env_file exports the KEY=VALUE lines of a file (comments, blank
# lines and a leading "export" allowed; one level of quotes removed) that
# the environment does not already set; within the file the last line for a
# key wins. Nothing in it is executed.
declare -A from_file=()
load_env_file() {
	local file=$1 line key value n=0
	while IFS= read -r line || [[ -n "$line" ]]; do
		n=$((n + 1))
		line=${line%$'\r'}
		[[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
		line=${line#"${line%%[![:space:]]*}"}
		line=${line#export }
		if [[ ! "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
			fail "$file line $n is not KEY=VALUE: $line" "write it as NAME=value, e.g. RGRID_SLOTS=4"
		fi
		key=${BASH_REMATCH[1]}
		value=${BASH_REMATCH[2]}
		if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
			value=${BASH_REMATCH[1]}
		fi
		if [[ -z "${!key+set}" || -n "${from_file[$key]:-}" ]]; then
			export "$key=$value"
			from_file[$key]=$file
		fi
	done <"$file"
}

# origin KEY says where a setting came from, for messages.
origin() {
	if [[ -n "${from_file[$1]:-}" ]]; then
		echo "set in ${from_file[$1]}"
	else
		echo "set in the environment"
	fi
}

env_file=
if [[ -n "${RGRID_ENV_FILE:-}" ]]; then
	[[ -r "$RGRID_ENV_FILE" ]] || fail "RGRID_ENV_FILE names $RGRID_ENV_FILE, which does not exist or cannot be read" \
		"point RGRID_ENV_FILE at your env file, or unset it to read ./.env"
	env_file=$RGRID_ENV_FILE
elif [[ -f .env ]]; then
	env_file=$PWD/.env
fi
if [[ -n "$env_file" ]]; then
	load_env_file "$env_file"
fi

# --- the server's address --------------------------------------------------
if [[ -z "${RGRID_SERVER:-}" ]]; then
	fail "RGRID_SERVER is not set, neither in the environment nor in ${env_file:-.env (there is no $PWD/.env)}" \
		"add RGRID_SERVER=http://CONTROL-HOST:8080 to .env (or export it), naming where 'rgrid server' listens"
fi
RGRID_SERVER=${RGRID_SERVER%/}
if [[ ! "$RGRID_SERVER" =~ ^https?://[^/]+$ ]]; then
	fail "RGRID_SERVER=$RGRID_SERVER ($(origin RGRID_SERVER)) is not a server URL" \
		"set RGRID_SERVER to the scheme, host and port only, like http://control:8080"
fi
export RGRID_SERVER
if [[ -n "${RGRID_CA_CERT:-}" && ! -r "$RGRID_CA_CERT" ]]; then
	fail "RGRID_CA_CERT=$RGRID_CA_CERT ($(origin RGRID_CA_CERT)) is not a readable file" \
		"point RGRID_CA_CERT at the PEM certificate of the CA that signed the server's certificate, or unset it to trust the system's roots"
fi

# --- Docker ------------------------------------------------------------------
executor=${RGRID_EXECUTOR:-docker}
case "$executor" in
docker)
	if ! command -v docker >/dev/null 2>&1; then
		fail "the docker command is not installed, and the worker runs jobs in Docker containers (RGRID_EXECUTOR=${RGRID_EXECUTOR:-docker, the default})" \
			"install Docker Engine (https://docs.docker.com/engine/install/), then run: docker version" \
			"or set RGRID_EXECUTOR=process to run jobs on this machine without isolation"
	fi
	if ! out=$(docker version --format '{{.Server.Version}}' 2>&1); then
		where="start it: sudo systemctl start docker"
		if [[ -n "${DOCKER_HOST:-}" ]]; then
			where="DOCKER_HOST=$DOCKER_HOST is set: check that an engine listens there, or unset it for the local one"
		fi
		fail "the Docker engine does not answer: 'docker version' says: $(echo "$out" | tail -n 1)" \
			"$where" \
			"if it runs: give $(id -un) the socket (sudo usermod -aG docker $(id -un), then log in again)" \
			"or set RGRID_EXECUTOR=process to run jobs on this machine without isolation"
	fi
	say "Docker engine $out answers"
	;;
process)
	say "RGRID_EXECUTOR=process: jobs run on this machine as $(id -un), without isolation"
	;;
*)
	fail "RGRID_EXECUTOR=$executor ($(origin RGRID_EXECUTOR)) is neither docker nor process" "set RGRID_EXECUTOR=docker or RGRID_EXECUTOR=process"
	;;
esac

# --- the server ----------------------------------------------------------------
# http_get URL [TOKEN] prints the HTTP status of a GET, or the reason
# there was none and fails.
http_get() {
	local url=$1 token=${2:-} out rc=0
	if command -v curl >/dev/null 2>&1; then
		local args=(-sS -o /dev/null -w '%{http_code}' --connect-timeout 5 --max-time 10)
		if [[ -n "$token" ]]; then args+=(-H "Authorization: Bearer $token"); fi
		# The worker trusts RGRID_CA_CERT alone for the server; so does curl's --cacert.
		if [[ -n "${RGRID_CA_CERT:-}" ]]; then args+=(--cacert "$RGRID_CA_CERT"); fi
		out=$(curl "${args[@]}" "$url" 2>&1) || rc=$?
		if ((rc != 0)); then
			# curl's message without its "curl: (7) " prefix and the 000 status.
			grep -v '^000$' <<<"$out" | sed -E 's/^curl: \([0-9]+\) //'
			return 1
		fi
		echo "$out"
		return
	fi
	# No curl: plain HTTP over bash's /dev/tcp.
	if [[ ! "$url" =~ ^http://([^/:]+)(:([0-9]+))?(/.*)$ ]]; then
		echo "cannot check $url without curl (install curl)"
		return 1
	fi
	local host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-80} path=${BASH_REMATCH[4]} status
	{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || {
		echo "cannot connect to $host port $port"
		return 1
	}
	{
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\n' "$path" "$host"
		if [[ -n "$token" ]]; then printf 'Authorization: Bearer %s\r\n' "$token"; fi
		printf '\r\n'
	} >&3
	if ! IFS=' ' read -r -t 10 _ status _ <&3; then
		echo "no HTTP answer from $host port $port"
		return 1
	fi
	echo "$status"
}

if ! status=$(http_get "$RGRID_SERVER/v1/health"); then
	fail "the server at RGRID_SERVER=$RGRID_SERVER ($(origin RGRID_SERVER)) does not answer: $status" \
		"check that 'rgrid server' runs there and listens on that address and port (it prints 'rgrid server listening addr=…')" \
		"from this machine, try: curl $RGRID_SERVER/v1/health"
fi
case "$status" in
200) ;;
503)
	fail "the server at $RGRID_SERVER answers but cannot reach its database (503)" \
		"look at the server's log and check that its database (--db / RGRID_DB) is up; the worker would wait and retry"
	;;
*)
	fail "$RGRID_SERVER/v1/health answered HTTP $status; is RGRID_SERVER an rgrid server?" \
		"set RGRID_SERVER to where 'rgrid server' listens, and check with: curl $RGRID_SERVER/v1/health"
	;;
esac
status=$(http_get "$RGRID_SERVER/v1/workers" "${RGRID_TOKEN:-}") || true
if [[ "$status" == 401 ]]; then
	if [[ -z "${RGRID_TOKEN:-}" ]]; then
		fail "the server at $RGRID_SERVER requires a token and RGRID_TOKEN is not set" \
			"add RGRID_TOKEN=<the server's --token> to .env (or export it)"
	fi
	fail "the server at $RGRID_SERVER refuses RGRID_TOKEN ($(origin RGRID_TOKEN))" \
		"set RGRID_TOKEN to the token the server was started with (its --token or RGRID_TOKEN)"
fi
say "server $RGRID_SERVER answers"

# --- the rgrid binary -------------------------------------------------------
if [[ -n "${RGRID_BIN:-}" ]]; then
	[[ -x "$RGRID_BIN" ]] || fail "RGRID_BIN=$RGRID_BIN is not an executable file" \
		"point RGRID_BIN at the rgrid binary, or unset it to use rgrid from PATH"
	bin=$RGRID_BIN
elif bin=$(command -v rgrid 2>/dev/null); then
	:
else
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if [[ -f "$repo/go.mod" && -d "$repo/cmd/rgrid" ]] && command -v go >/dev/null 2>&1; then
		# Built rather than "go run": exec'ing the binary itself lets
		# SIGTERM reach the worker (a drain) and not the go command.
		bin=${XDG_CACHE_HOME:-$HOME/.cache}/rgrid/start-worker/rgrid
		mkdir -p "$(dirname "$bin")"
		say "building rgrid from $repo"
		(cd "$repo" && go build -o "$bin" ./cmd/rgrid) || fail "go build ./cmd/rgrid failed in $repo" \
			"fix the build, or install rgrid (go build -o /usr/local/bin/rgrid ./cmd/rgrid) or set RGRID_BIN"
	else
		fail "no rgrid binary: RGRID_BIN is not set and rgrid is not on PATH" \
			"install it (go build -o /usr/local/bin/rgrid ./cmd/rgrid in the source tree) or set RGRID_BIN=/path/to/rgrid"
	fi
fi

say "starting $bin worker (server $RGRID_SERVER, executor $executor, slots ${RGRID_SLOTS:-1})"
exec "$bin" worker "$@"
