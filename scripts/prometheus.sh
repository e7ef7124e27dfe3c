#!/usr/bin/env bash
# prometheus.sh — Prometheus and promtool for the metrics tests.
#
#   source scripts/prometheus.sh
#   prom_install   # installs Debian's prometheus package (as root) unless
#                  # prometheus and promtool are already on PATH
#
# The tests start their own Prometheus server on a free loopback port
# with a temporary data directory; nothing here starts one. The package's
# own service is not wanted: where policy-rc.d forbids starting services
# (containers), the install starts none.
#
# Called as a script: scripts/prometheus.sh install

_prom_log() { echo "prometheus.sh: $*" >&2; }

prom_install() {
	if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		_prom_log "Prometheus is not installed; install it first: sudo apt-get install -y --no-install-recommends prometheus"
		return 1
	fi
	_prom_log "installing Prometheus (and promtool) from Debian's packages"
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || {
		_prom_log "apt-get install prometheus failed"
		return 1
	}
	command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || {
		_prom_log "prometheus or promtool is not on PATH after installing the package"
		return 1
	}
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-}" in
	install) prom_install ;;
	*)
		echo "usage: $0 install" >&2
		exit 2
		;;
	esac
fi
