#!/usr/bin/env bash
# Builds the Docker images the executor tests run, without any registry
# (none is reachable on our machines):
#
#   rgrid-test/helper:latest  FROM scratch + a static Go helper binary
#                             (internal/testimages/helper) at /helper
#   rgrid-test/python:3.11    a debootstrapped Debian bookworm rootfs with
#                             python3 (3.11), pip and venv, via docker import
#   rgrid-worker:dev          rgrid-test/python:3.11 with a static rgrid of
#                             this tree at /usr/local/bin/rgrid: the image of
#                             the autoscaler's docker pools (README,
#                             Autoscaling); rebuilt when the Go sources change
#
# Idempotent: an image is rebuilt only when it is missing or was built from
# other sources (a label records a hash of them). Run as root on a clean
# machine it installs debootstrap first. Usage: scripts/images.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

HELPER_IMAGE=rgrid-test/helper:latest
PYTHON_IMAGE=rgrid-test/python:3.11
SUITE=bookworm
MIRROR=${RGRID_DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=${1:-}

log() { echo "images.sh: $*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "the Docker engine does not answer (is dockerd running? DOCKER_HOST? permission on /var/run/docker.sock?)"

# label IMAGE prints the image's rgrid.source label, or nothing if the
# image is missing.
label() {
  docker image inspect --format '{{index .Config.Labels "rgrid.source"}}' "$1" 2>/dev/null || true
}

# up_to_date IMAGE HASH says whether IMAGE exists and was built from HASH.
up_to_date() {
  [ "$FORCE" != "--force" ] && [ "$(label "$1")" = "$2" ]
}

work=$(mktemp -d /tmp/rgrid-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

build_helper() {
  local hash start
  hash=$(cat internal/testimages/helper/*.go go.mod | sha256sum | cut -c1-16)
  if up_to_date "$HELPER_IMAGE" "$hash"; then
    log "$HELPER_IMAGE is up to date"
    return
  fi
  start=$SECONDS
  mkdir "$work/helper"
  CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/helper/helper" ./internal/testimages/helper
  cat >"$work/helper/Dockerfile" <<DOCKERFILE
FROM scratch
COPY helper /helper
LABEL rgrid.source=$hash
CMD ["/helper"]
DOCKERFILE
  # The classic builder needs neither buildx nor a registry for FROM scratch.
  # Its deprecation notice is noise; its output is shown if it fails.
  DOCKER_BUILDKIT=0 docker build -q -t "$HELPER_IMAGE" "$work/helper" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; die "docker build of $HELPER_IMAGE failed"; }
  log "built $HELPER_IMAGE in $((SECONDS - start)) s"
}

build_python() {
  # Bump the version to force a rebuild when the recipe below changes.
  local hash="python-v1-$SUITE" start rootfs
  if up_to_date "$PYTHON_IMAGE" "$hash"; then
    log "$PYTHON_IMAGE is up to date"
    return
  fi
  start=$SECONDS
  if ! command -v debootstrap >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "debootstrap is missing; install it (apt-get install debootstrap) or run as root"
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root to build $PYTHON_IMAGE"
  rootfs="$work/rootfs"
  log "debootstrapping $SUITE from $MIRROR (about 40 s)"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv \
    "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  [ -x "$rootfs/usr/bin/python3.11" ] || die "the rootfs has no /usr/bin/python3.11"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  log "debootstrap took $((SECONDS - start)) s; importing"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c "LABEL rgrid.source=$hash" \
    -c 'CMD ["python3.11"]' \
    - "$PYTHON_IMAGE" >/dev/null
  docker run --rm --network none "$PYTHON_IMAGE" python3.11 -c 'import sys, venv, pip; assert sys.version_info[:2] == (3, 11)' ||
    die "$PYTHON_IMAGE does not run python3.11"
  log "built $PYTHON_IMAGE in $((SECONDS - start)) s ($(docker image inspect --format '{{.Size}}' "$PYTHON_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
}

WORKER_IMAGE=rgrid-worker:dev

build_worker() {
  local hash start
  hash=$( (git ls-files -z -- '*.go' go.mod go.sum 2>/dev/null | xargs -0 cat; docker image inspect --format '{{.Id}}' "$PYTHON_IMAGE") | sha256sum | cut -c1-16)
  if up_to_date "$WORKER_IMAGE" "$hash"; then
    log "$WORKER_IMAGE is up to date"
    return
  fi
  start=$SECONDS
  mkdir "$work/worker"
  CGO_ENABLED=0 go build -trimpath -o "$work/worker/rgrid" ./cmd/rgrid
  cat >"$work/worker/Dockerfile" <<DOCKERFILE
FROM $PYTHON_IMAGE
COPY rgrid /usr/local/bin/rgrid
LABEL rgrid.source=$hash
ENTRYPOINT ["rgrid"]
CMD ["worker", "--help"]
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t "$WORKER_IMAGE" "$work/worker" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; die "docker build of $WORKER_IMAGE failed"; }
  log "built $WORKER_IMAGE in $((SECONDS - start)) s"
}

build_helper
build_python
build_worker
