#!/usr/bin/env bash
# Builds the image hale's Docker tests and benchmarks run, without any registry: a root
# filesystem holding only Debian's static busybox and its applets, imported with `docker import`.
# Idempotent: does nothing when the engine already has the image.
#
#   scripts/test-image.sh            # on the engine $DOCKER_HOST (or the local socket) points at
#
# Needs: docker, busybox-static (scripts/test.sh installs both).
set -euo pipefail
IMAGE=${IMAGE:-hale-test/busybox:1}
docker image inspect "$IMAGE" >/dev/null 2>&1 && exit 0

busybox=/bin/busybox
[ -x "$busybox" ] || { echo "test-image: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
# A dynamically linked busybox cannot run in an image that has no libc.
if [ -n "$(readelf -l "$busybox" 2>/dev/null | grep -i 'program interpreter' || true)" ] \
   || ldd "$busybox" >/dev/null 2>&1; then
  echo "test-image: $busybox is dynamically linked: apt-get install busybox-static" >&2
  exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
tar -C "$root" -c . | docker import - "$IMAGE" >/dev/null
echo "test-image: built $IMAGE"
