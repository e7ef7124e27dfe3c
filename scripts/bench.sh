#!/usr/bin/env bash
# bench.sh — every benchmark of rgrid in one command, and one table.
#
#   scripts/bench.sh            # the full run (about 15 minutes)
#   scripts/bench.sh -quick     # small counts and 3 runs, for development
#   BENCH_ONLY=latency,queuestore scripts/bench.sh -quick   # some programs only
#
# It sets up what the programs need as scripts/test.sh does (a private
# PostgreSQL cluster through scripts/pg.sh, the local Docker test images
# through scripts/images.sh), builds and runs every bench program, and prints
# the machine, then a Markdown table: for each figure its median, min, max,
# number of runs, the ratio to its anchor (measured in the same run) and its
# target. Programs are bench/NAME directories with a main package (not
# bench/internal, nor a directory with a go.mod of its own, like bench/river,
# which bench/queuestore runs): the known ones in the order below, then any
# other, so a new program (bench/logs, say) is picked up by being there. Each
# follows the output contract of bench/README.md: RESULT lines on stdout,
# BENCH_RUNS and BENCH_QUICK from the environment. The Go benchmark of the
# dependency cache is run as "depcache" and its metrics turned into RESULT
# lines here.
#
# Environment: BENCH_QUICK=1 (as -quick), BENCH_ONLY=a,b (program names, and
# depcache), BENCH_OUT=DIR (keep each program's log and results.txt there).
# Exits non-zero when a program failed; the table is printed regardless.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null 2>&1 || { echo "scripts/bench.sh: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

BENCH_QUICK=${BENCH_QUICK:-}
for arg in "$@"; do
  case "$arg" in
  -quick | --quick) BENCH_QUICK=1 ;;
  -h | -help | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "scripts/bench.sh: unknown argument $arg (try -help)" >&2
    exit 2
    ;;
  esac
done
if [ -n "$BENCH_QUICK" ] && [ "$BENCH_QUICK" != 0 ]; then
  export BENCH_QUICK=1 BENCH_RUNS=${BENCH_RUNS:-3}
else
  unset BENCH_QUICK
fi
ONLY=${BENCH_ONLY:-}

# The order of the table; programs found under bench/ but not named here
# follow them.
KNOWN=(queuestore apiqueue latency memory runoverhead batchparallel depcache failover logs bigout)
# A backstop per program; each also bounds itself.
LIMIT=20m

work=$(mktemp -d /tmp/rgrid-bench.XXXXXX)
results=$work/results.txt
: >"$results"
failed=0
cleanup() {
  pg_stop || true
  if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT" && cp -r "$work"/logs "$results" "$BENCH_OUT"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}

# shellcheck source=scripts/pg.sh
source scripts/pg.sh
pg_start
trap cleanup EXIT
mkdir -p "$work/bin" "$work/logs"

echo "== test images" >&2
bash scripts/images.sh

# bench/batchparallel compares a batch with GNU parallel: install the
# distribution's package when it is missing and this can (root with
# apt-get); otherwise that program reports its figures as not measured.
if ! command -v parallel >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== GNU parallel (for bench/batchparallel)" >&2
  { apt-get install -y -q --no-install-recommends parallel >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends parallel >/dev/null 2>&1; }; } ||
    echo "scripts/bench.sh: could not install GNU parallel; bench/batchparallel will say not measured" >&2
fi

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# The programs: every bench/NAME with a main package, known ones first.
found=()
for d in bench/*/; do
  name=$(basename "$d")
  [ "$name" = internal ] && continue
  [ -f "$d/go.mod" ] && continue
  grep -qs '^package main$' "$d"*.go || continue
  found+=("$name")
done
programs=()
for name in "${KNOWN[@]}"; do
  if [ "$name" = depcache ] || [[ " ${found[*]} " == *" $name "* ]] || [ "$name" = logs ]; then
    programs+=("$name")
  fi
done
for name in "${found[@]}"; do
  [[ " ${KNOWN[*]} " == *" $name "* ]] || programs+=("$name")
done

notmeasured() { # NAME REASON
  printf 'NOTMEASURED name=%s reason="%s"\n' "$1" "${2//\"/\'}" >>"$results"
}

# run_program NAME CMD...: runs a program, its free text shown with a
# prefix, its RESULT and NOTMEASURED lines collected.
run_program() {
  local name=$1 log=$work/logs/$1.log rc
  shift
  echo "== $name ($(date -u +%H:%M:%S))" >&2
  set +e
  timeout --signal=TERM --kill-after=60s "$LIMIT" "$@" 2>>"$log" | tee -a "$log" | while IFS= read -r line; do
    case "$line" in
    RESULT\ * | NOTMEASURED\ *) echo "$line" >>"$results" ;;
    *) echo "   $name: $line" >&2 ;;
    esac
  done
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "   $name: FAILED (exit $rc); the end of its log:" >&2
    tail -n 15 "$log" | sed 's/^/   | /' >&2
    notmeasured "$name" "bench/$name failed (exit $rc)"
    failed=1
  fi
}

# depcache: the Go benchmark of internal/executor/docker, one cold build and
# ten interleaved runs of each kind per -count.
run_depcache() {
  local log=$work/logs/depcache.log rc
  echo "== depcache ($(date -u +%H:%M:%S))" >&2
  set +e
  timeout --signal=TERM --kill-after=60s "$LIMIT" \
    go test -run '^$' -bench DependencyCache -benchtime 1x -count "${BENCH_RUNS:-5}" ./internal/executor/docker >"$log" 2>&1
  rc=$?
  set -e
  awk '/^BenchmarkDependencyCache/ {
    for (i = 1; i < NF; i++) m[$(i + 1)] = $i
    print "RESULT name=deps.cold unit=s value=" m["cold-build-s"] " desc=\"first run of a new requirement set: builds the environment image (pip from a local index)\""
    print "RESULT name=deps.none unit=ms value=" m["no-reqs-median-ms"] " desc=\"print(hello) through the docker executor, no requirements (median of 10 per run)\""
    print "RESULT name=deps.hit unit=ms value=" m["cache-hit-median-ms"] " anchor=deps.none target=<=1.1x desc=\"the same with a cached requirement set (median of 10 per run)\""
  }' "$log" >>"$results"
  sed 's/^/   depcache: /' "$log" | grep -v '^   depcache: Benchmark' >&2 || true
  if [ "$rc" -ne 0 ]; then
    notmeasured depcache "the DependencyCache Go benchmark failed (exit $rc)"
    failed=1
  fi
}

echo "== building the bench programs" >&2
for name in "${programs[@]}"; do
  [ "$name" = depcache ] || [ ! -d "bench/$name" ] && continue
  wanted "$name" || continue
  if ! go build -o "$work/bin/$name" "./bench/$name" 2>"$work/logs/$name.build"; then
    cat "$work/logs/$name.build" >&2
    notmeasured "$name" "bench/$name does not build"
    failed=1
  fi
done

started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for name in "${programs[@]}"; do
  wanted "$name" || continue
  if [ "$name" = depcache ]; then
    run_depcache
  elif [ ! -d "bench/$name" ]; then
    notmeasured "$name" "bench/$name is not in this tree"
  elif [ -x "$work/bin/$name" ]; then
    run_program "$name" "$work/bin/$name"
  fi
done
took=$(($(date +%s) - started))

cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
echo
echo "## rgrid benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')${BENCH_QUICK:+ — QUICK MODE (small counts, not for BENCHMARKS.md)}"
echo
echo "- machine: $(nproc) cores ($cpu), $mem, Linux $(uname -r)"
echo "- Docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), cgroup v$([ -f /sys/fs/cgroup/cgroup.controllers ] && echo 2 || echo 1); PostgreSQL $("$PG_BINDIR"/postgres --version | awk '{print $3}') (scripts/pg.sh: fsync off); $(go version | awk '{print $3}')"
echo "- tree: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes')"
echo "- load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg); benchmarks took $((took / 60)) min $((took % 60)) s"
echo
go run ./bench/internal/report "$results" || failed=1
exit "$failed"
