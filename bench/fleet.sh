#!/usr/bin/env bash
# Fleet simulation: POLLERS hales in pull mode against a clustered Alertmanager pair holding
# ALERTS active alerts (bench/fleet.py says what it reports). Defaults: 500, 5000, 30 s.
#
#   bench/fleet.sh
#   POLLERS=100 INTERVAL=10 WINDOW=30 bench/fleet.sh
#
# Needs: cargo, python3, prometheus-alertmanager (scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
need python3 prometheus-alertmanager
cargo build --release --quiet
ulimit -n 65536 2>/dev/null || true
exec python3 bench/fleet.py
