#!/usr/bin/env bash
# Runs every test of hale, after installing what the tests need on a Debian machine:
#   - prometheus-node-exporter and prometheus-process-exporter (and python3, a multi-threaded
#     process to watch), for the side-by-side compatibility tests;
#   - prometheus, which scrapes hale in a test;
#   - wrk, for bench/ (not run here, but installed so the benchmarks work right after);
#   - docker.io and busybox-static: the container tests run against a real engine, with a test
#     image built locally from the static busybox (no registry is needed). When no engine answers
#     on the local socket, this script starts dockerd (log: /tmp/hale-test-dockerd.log);
#   - openssl and socat: the Docker-over-TLS test makes certificates and puts a TLS listener
#     that demands client certificates in front of the engine's socket;
#   - prometheus-alertmanager (with amtool): a real Alertmanager sends its webhook to hale;
#   - docker-compose: parses deploy/docker-compose.yml; systemd-analyze (systemd) verifies the unit;
#   - curl: the TLS and mutual-TLS client of tests/web_security.rs.
#   - a short libFuzzer run of each target in fuzz/ (scripts/fuzz.sh; it needs only the Rust
#     toolchain and a C++ compiler for libFuzzer, which Debian's Rust setups have);
#   - util-linux's mount and fsfreeze, e2fsprogs' mkfs.ext4: the fault tests mount a small tmpfs
#     (a disk that fills) and an ext4 loop image (a disk that freezes); they need root.
#   - btrfs-progs' mkfs.btrfs: the btrfs test mounts a Btrfs loop image and compares hale's
#     reading of it (the kernel's btrfs ioctls) with node_exporter's; it needs root.
# Tests that need a tool fail without it; they never skip. Run as root or with sudo available.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v prometheus-node-exporter >/dev/null || packages+=(prometheus-node-exporter)
command -v prometheus-process-exporter >/dev/null || packages+=(prometheus-process-exporter)
command -v python3 >/dev/null || packages+=(python3)
command -v mkfs.btrfs >/dev/null || packages+=(btrfs-progs)
command -v wrk >/dev/null || packages+=(wrk)
command -v prometheus >/dev/null || packages+=(prometheus)
command -v mkfifo >/dev/null || packages+=(coreutils)
command -v dockerd >/dev/null || packages+=(docker.io)
command -v unshare >/dev/null || packages+=(util-linux)
command -v ip >/dev/null || packages+=(iproute2)
command -v openssl >/dev/null || packages+=(openssl)
command -v socat >/dev/null || packages+=(socat)
command -v prometheus-alertmanager >/dev/null || packages+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || packages+=(docker-compose)
command -v curl >/dev/null || packages+=(curl)
command -v c++ >/dev/null || packages+=(g++)
command -v mkfs.ext4 >/dev/null || packages+=(e2fsprogs)
command -v systemd-analyze >/dev/null || packages+=(systemd)
dpkg -s busybox-static >/dev/null 2>&1 || packages+=(busybox-static)
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test.sh: installing ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
# Debian starts these as services on install; the tests start their own.
for service in prometheus prometheus-node-exporter prometheus-process-exporter prometheus-alertmanager; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

if ! docker version >/dev/null 2>&1; then
  echo "test.sh: starting dockerd"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo sh -c 'nohup dockerd >/tmp/hale-test-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 1
  done
  docker version >/dev/null || { echo "test.sh: dockerd did not start; see /tmp/hale-test-dockerd.log" >&2; exit 1; }
fi

cargo fmt --check
cargo fmt --check --manifest-path fuzz/Cargo.toml
cargo clippy --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
# A short coverage-guided run of every fuzz target over its corpus (scripts/fuzz.sh SECONDS for
# a longer one).
scripts/fuzz.sh 20
