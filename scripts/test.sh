#!/usr/bin/env bash
# Runs rgrid's whole test suite the way CI does: installs and starts what the
# tests need (a private PostgreSQL cluster on a free port under a temp dir,
# the Docker test images, built locally since no registry is reachable, and
# Debian's prometheus for the metrics tests), runs go vet and go test -race
# over every package, and stops what it started.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -run TestE2E    # extra arguments go to "go test"
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "scripts/test.sh: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

# The S3 server for the blob store's tests is built from source once per
# machine (about 11 minutes): start that first, in its own process group,
# while the rest is set up.
# shellcheck source=scripts/s3.sh
source scripts/s3.sh
# shellcheck source=scripts/pg.sh
source scripts/pg.sh
# shellcheck source=scripts/prometheus.sh
source scripts/prometheus.sh
s3_build_log=$(mktemp)
setsid bash scripts/s3.sh build >"$s3_build_log" 2>&1 &
s3_build_pid=$!
cleanup() {
  kill -- -"$s3_build_pid" 2>/dev/null || true
  s3_stop
  pg_stop
  rm -f "$s3_build_log"
}
trap cleanup EXIT
pg_start
echo "== Prometheus (the metrics tests run promtool and a Prometheus server)"
prom_install

echo "== test images"
bash scripts/images.sh
echo "== chromium (the console's browser test)"
bash scripts/chromium.sh

echo "== go vet, golangci-lint"
go vet ./...
test -z "$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...
echo "== cross builds"
# rgrid is a client on macOS and Windows too: every release target must
# build, and go vet (tests included) must pass there for what it is made of.
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/rgrid ||
    { echo "rgrid does not build for $target"; exit 1; }
done
for os in darwin windows; do
  # shellcheck disable=SC2046 # one argument per package
  GOOS=$os go vet $(GOOS=$os go list -deps ./cmd/rgrid | grep '^github.com/rgrid/rgrid/')
done
echo "== S3 server (SeaweedFS)"
s3_build_ok=0
wait "$s3_build_pid" || s3_build_ok=$?
cat "$s3_build_log" >&2
[ "$s3_build_ok" -eq 0 ] || { echo "scripts/test.sh: building SeaweedFS failed"; exit 1; }
s3_start
echo "== go test"
go test -race -count=1 -timeout 30m "$@" ./...
