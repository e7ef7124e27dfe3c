#!/usr/bin/env bash
# s3.sh — a throwaway S3 server (SeaweedFS) for the tests.
#
#   source scripts/s3.sh
#   s3_build   # builds SeaweedFS's weed once per machine into a cache
#   s3_start   # builds if needed, starts weed on 127.0.0.1 under a temp
#              # dir with one access key, exports RGRID_TEST_S3_URL
#   s3_stop    # stops it and removes its directory
#
# Called as a script: scripts/s3.sh build|start|stop (stop needs the
# variables that start printed, so sourcing is the usual way).
#
# The build takes about 11 minutes on a 2-core machine the first time and
# makes a binary of about 230 MB; scripts/test.sh starts it in the
# background first thing. The cache is $RGRID_TOOLS_CACHE (default
# ~/.cache/rgrid/tools), one directory per pinned version.

# The version of SeaweedFS: the module proxy serves only pseudo-versions
# of it. "go install …/weed@version" refuses it (its go.mod has replace
# directives), so it is built inside a copy of the downloaded module.
S3_WEED_MODULE=github.com/seaweedfs/seaweedfs
S3_WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6

_s3_log() { echo "s3.sh: $*" >&2; }

_s3_cache_dir() { echo "${RGRID_TOOLS_CACHE:-$HOME/.cache/rgrid/tools}/weed-$S3_WEED_VERSION"; }

# s3_weed_path prints where the cached weed binary is (or will be).
s3_weed_path() { echo "$(_s3_cache_dir)/weed"; }

# s3_build builds weed into the cache unless it is there. The binary is
# built under a temporary name and renamed, so an interrupted build never
# leaves a half-written weed that a later run would take; a lock keeps two
# runs on one machine from building at once (the second waits and reuses).
s3_build() {
	local dir bin
	dir=$(_s3_cache_dir)
	bin=$dir/weed
	if [[ -x "$bin" ]]; then
		_s3_log "reusing $bin (built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC'))"
		return 0
	fi
	command -v go >/dev/null 2>&1 || {
		_s3_log "Go is not installed; weed is built from source (https://go.dev/doc/install)"
		return 1
	}
	command -v flock >/dev/null 2>&1 || {
		_s3_log "flock is missing (Debian: apt-get install util-linux)"
		return 1
	}
	mkdir -p "$dir" || return 1
	(
		flock 9
		if [[ -x "$bin" ]]; then
			_s3_log "reusing $bin (built by another run while this one waited)"
			exit 0
		fi
		local started src work rc
		# What an interrupted build left behind.
		rm -rf "$dir"/build.* "$bin.tmp"
		started=$(date +%s)
		_s3_log "building weed $S3_WEED_VERSION once for this machine (about 11 minutes on 2 cores) into $dir"
		src=$(go mod download -json "$S3_WEED_MODULE@$S3_WEED_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || exit 1
		if [[ -z "$src" || ! -d "$src/weed" ]]; then
			_s3_log "go mod download $S3_WEED_MODULE@$S3_WEED_VERSION gave no module directory"
			exit 1
		fi
		work=$(mktemp -d "$dir/build.XXXXXX") || exit 1
		# The module cache is read-only; the build wants a writable copy
		# that is a main module of its own (so its replace directives hold).
		cp -r "$src/." "$work/src" && chmod -R u+w "$work/src" || {
			rm -rf "$work"
			exit 1
		}
		(cd "$work/src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/weed" ./weed) >"$work/build.log" 2>&1
		rc=$?
		if [[ $rc -ne 0 ]]; then
			_s3_log "building weed failed (exit $rc); the end of its log:"
			tail -n 30 "$work/build.log" >&2
			rm -rf "$work"
			exit 1
		fi
		mv -f "$work/weed" "$bin.tmp" && mv -f "$bin.tmp" "$bin" || {
			rm -rf "$work"
			exit 1
		}
		rm -rf "$work"
		_s3_log "built $bin in $(($(date +%s) - started)) s ($(du -m "$bin" | cut -f1) MB)"
	) 9>"$dir/.lock"
}

# _s3_free_ports N prints N distinct TCP ports on 127.0.0.1 that nothing
# listens on, below the kernel's ephemeral range (32768 and up).
_s3_free_ports() {
	local want=$1 port i got=()
	port=$((10000 + RANDOM % 20000))
	for ((i = 0; i < 500 && ${#got[@]} < want; i++)); do
		port=$((port + 1 + RANDOM % 7))
		((port < 32000)) || port=10000
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			got+=("$port")
		fi
	done
	((${#got[@]} == want)) || return 1
	echo "${got[@]}"
}

# _s3_request METHOD PATH: a signed S3 request to the started server;
# prints the HTTP status.
_s3_request() {
	curl -s -o "$S3_TMPDIR/response" -w '%{http_code}' --max-time 5 \
		--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-X "$1" "http://127.0.0.1:$S3_PORT$2" 2>/dev/null || echo 000
}

# s3_start starts weed server -s3 (master, volume, filer and the S3
# gateway in one process) on loopback ports under a temp dir, with one
# identity whose secret is made up now, creates the bucket, and exports
# RGRID_TEST_S3_URL once a signed ListBuckets shows it.
s3_start() {
	local weed ports started
	command -v curl >/dev/null 2>&1 || {
		if [[ $(id -u) -eq 0 ]]; then
			_s3_log "installing curl (the readiness check signs S3 requests with it)"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null || return 1
		else
			_s3_log "curl is missing; install it first: sudo apt-get install -y curl"
			return 1
		fi
	}
	s3_build || return 1
	weed=$(s3_weed_path)

	S3_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/rgrid-s3.XXXXXX") || return 1
	mkdir -p "$S3_TMPDIR/data" "$S3_TMPDIR/config"
	S3_ACCESS_KEY=rgrid
	S3_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	S3_REGION=us-east-1
	S3_BUCKET=rgrid-test
	export S3_TMPDIR S3_ACCESS_KEY S3_SECRET_KEY S3_REGION S3_BUCKET
	(umask 077 && cat >"$S3_TMPDIR/config/s3.json" <<-EOF
		{"identities": [{"name": "rgrid",
		  "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
		  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
	EOF
	) || return 1

	# A port that looked free can be taken before weed binds it: try a few.
	local try i code
	for ((try = 0; try < 3; try++)); do
		ports=$(_s3_free_ports 8) || {
			_s3_log "no free TCP ports found"
			return 1
		}
		# shellcheck disable=SC2086 # one word per port
		set -- $ports
		S3_PORT=$7
		S3_GRPC_PORTS="$2 $4 $6 $8"
		export S3_PORT S3_GRPC_PORTS
		# -config_dir and the working directory keep weed from reading
		# a security.toml or the like from the machine; telemetry off,
		# since nothing but loopback is to be reached.
		(cd "$S3_TMPDIR/config" && exec "$weed" -logtostderr=true -config_dir="$S3_TMPDIR/config" server \
			-dir="$S3_TMPDIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
			-master.port="$1" -master.port.grpc="$2" -master.telemetry=false \
			-master.volumeSizeLimitMB=1024 -volume.max=0 \
			-volume.port="$3" -volume.port.grpc="$4" -volume.preStopSeconds=0 \
			-filer.port="$5" -filer.port.grpc="$6" -filer.localSocket="$S3_TMPDIR/filer.sock" \
			-s3 -s3.port="$7" -s3.port.grpc="$8" -s3.config="$S3_TMPDIR/config/s3.json" \
			-s3.port.iceberg=0 -s3.port.lance=0 -s3.localSocket="$S3_TMPDIR/s3.sock" \
			>"$S3_TMPDIR/weed.log" 2>&1) &
		S3_PID=$!
		export S3_PID
		started=
		# Ready when the bucket can be created with the credentials (a
		# real signed request; 409: it exists) and a signed ListBuckets
		# lists it. About 3 s; a minute at most.
		for ((i = 0; i < 240; i++)); do
			kill -0 "$S3_PID" 2>/dev/null || break
			code=$(_s3_request PUT "/$S3_BUCKET")
			if [[ $code == 200 || $code == 409 ]] && [[ $(_s3_request GET /) == 200 ]] &&
				grep -q "<Name>$S3_BUCKET</Name>" "$S3_TMPDIR/response"; then
				started=1
				break
			fi
			sleep 0.25
		done
		[[ -n "$started" ]] && break
		_s3_kill
	done
	if [[ -z "$started" ]]; then
		_s3_log "SeaweedFS did not start; the end of its log:"
		tail -n 30 "$S3_TMPDIR/weed.log" >&2
		s3_stop
		return 1
	fi
	export RGRID_TEST_S3_URL="s3://$S3_ACCESS_KEY:$S3_SECRET_KEY@$S3_BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=$S3_REGION"
	_s3_log "SeaweedFS S3 is up on 127.0.0.1:$S3_PORT (bucket $S3_BUCKET); RGRID_TEST_S3_URL is set"
}

# _s3_kill stops the weed process started last: TERM, then KILL after 2 s.
# Its filer spends 15 s flushing metadata on a graceful stop; everything
# is thrown away here, so that wait buys nothing.
_s3_kill() {
	local i
	if [[ -n "${S3_PID:-}" ]] && kill -0 "$S3_PID" 2>/dev/null; then
		kill -TERM "$S3_PID" 2>/dev/null
		for ((i = 0; i < 8; i++)); do
			kill -0 "$S3_PID" 2>/dev/null || break
			sleep 0.25
		done
		kill -KILL "$S3_PID" 2>/dev/null || true
		wait "$S3_PID" 2>/dev/null || true
		# Not our child when started by "s3.sh start": wait for it to go.
		for ((i = 0; i < 50; i++)); do
			kill -0 "$S3_PID" 2>/dev/null || break
			sleep 0.1
		done
	fi
	# weed puts its gRPC sockets in /tmp whatever its flags say.
	local p
	for p in ${S3_GRPC_PORTS:-}; do
		rm -f /tmp/seaweedfs-{master,volume,filer,s3}-grpc-"$p".sock
	done
}

s3_stop() {
	_s3_kill
	if [[ -n "${S3_TMPDIR:-}" && -d "$S3_TMPDIR" ]]; then
		rm -rf "$S3_TMPDIR"
	fi
	unset S3_PID S3_TMPDIR S3_PORT S3_GRPC_PORTS S3_SECRET_KEY RGRID_TEST_S3_URL
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-}" in
	build) s3_build ;;
	start)
		s3_start
		# The process must outlive this script: detach it from our wait.
		disown "$S3_PID" 2>/dev/null || true
		echo "export S3_PID=$S3_PID S3_TMPDIR=$S3_TMPDIR S3_GRPC_PORTS='$S3_GRPC_PORTS' RGRID_TEST_S3_URL='$RGRID_TEST_S3_URL'"
		;;
	stop) s3_stop ;;
	*)
		echo "usage: $0 build|start|stop" >&2
		exit 2
		;;
	esac
fi
