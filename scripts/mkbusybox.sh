#!/usr/bin/env bash
# mkbusybox.sh — make a busybox image from Debian's busybox-static (there is no
# Docker Hub here) and import it with the berth CLI.
#
#   bash scripts/mkbusybox.sh [IMAGE]          (default: busybox:latest)
#   bash scripts/mkbusybox.sh --tar FILE       (only write the rootfs tar)
#
# BERTH (default: berth from PATH) and DOCKER_HOST are honoured.
set -euo pipefail

image=busybox:latest
tarfile=
case "${1:-}" in
--tar) tarfile=${2:?--tar needs a file} ;;
"") ;;
*) image=$1 ;;
esac
berth=${BERTH:-berth}
busybox=/bin/busybox

if [ ! -x "$busybox" ]; then
	echo "error: $busybox missing; apt-get install busybox-static" >&2
	exit 1
fi

rootfs=$(mktemp -d /tmp/berth-busybox.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"

mkdir -p "$rootfs"/{bin,etc,root,tmp,proc,sys,dev,home,var/spool/mail,usr/bin,usr/sbin}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s /bin
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP

version=$("$busybox" 2>&1 | head -n1 | awk '{print $2}')
if [ -n "$tarfile" ]; then
	tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$tarfile" .
	echo "wrote $tarfile (busybox $version)"
	exit 0
fi
tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
	"$berth" import -m "busybox $version from Debian busybox-static" --change 'CMD ["sh"]' - "$image"
echo "imported $image (busybox $version)"
