#!/usr/bin/env bash
# Builds rgrid's release archives into dist/: one per platform,
# rgrid_<version>_<os>_<arch>.tar.gz (.zip for Windows) holding the binary,
# README.md and LICENSE, and checksums.txt with their SHA-256 sums. The
# binaries are static (CGO_ENABLED=0) and carry the version, commit and
# build date, which "rgrid version" prints.
#
#   scripts/release.sh                          # version from git describe --tags --always --dirty
#   scripts/release.sh v1.2.3                   # this version
#   scripts/release.sh v1.2.3 linux/amd64 ...   # only these platforms
#
# DIST=dir puts the archives elsewhere. (goreleaser would do this too, but
# its current release needs a newer Go than the project's.)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
if [ $# -gt 0 ]; then shift; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
fi
# The version goes into file names and a linker flag: nothing else allowed.
if ! [[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]]; then
  echo "scripts/release.sh: version \"$version\" may hold only letters, digits and . _ + - (e.g. v1.2.3)" >&2
  exit 2
fi
commit=$(git rev-parse HEAD 2>/dev/null || true)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
dist=${DIST:-dist}

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$@"; }
else
  sha256() { shasum -a 256 "$@"; } # macOS
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$dist"
rm -f "$dist"/rgrid_*.tar.gz "$dist"/rgrid_*.zip "$dist/checksums.txt"
dist=$(cd "$dist" && pwd)

pkg=github.com/rgrid/rgrid/internal/version
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Commit=$commit -X $pkg.Date=$date"
archives=()
for target in "${targets[@]}"; do
  os=${target%/*} arch=${target#*/}
  name="rgrid_${version}_${os}_${arch}"
  bin=rgrid
  if [ "$os" = windows ]; then bin=rgrid.exe; fi
  dir="$stage/$name"
  mkdir -p "$dir"
  echo "== $target"
  GOOS=$os GOARCH=$arch CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/$bin" ./cmd/rgrid
  files=("$bin")
  for f in README.md LICENSE; do
    if [ -f "$f" ]; then cp "$f" "$dir/" && files+=("$f"); fi
  done
  # The files at the archive's top, as goreleaser lays them out.
  if [ "$os" = windows ]; then
    (cd "$dir" && zip -q "$dist/$name.zip" "${files[@]}")
    archives+=("$name.zip")
  else
    (cd "$dir" && tar -czf "$dist/$name.tar.gz" "${files[@]}")
    archives+=("$name.tar.gz")
  fi
done
(cd "$dist" && sha256 "${archives[@]}" >checksums.txt)
echo "== $dist"
(cd "$dist" && cat checksums.txt)
