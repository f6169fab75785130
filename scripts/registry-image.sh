#!/usr/bin/env bash
# registry-image.sh — make a registry:2-compatible image from berth-registry
# (there is no Docker Hub here) and import it with the berth CLI, so that
# `berth run -d -p 5000:5000 --name registry registry:2` works as with Docker.
#
#   bash scripts/registry-image.sh [IMAGE...]   (default: registry:2 registry:latest)
#   bash scripts/registry-image.sh --tar FILE   (only write the rootfs tar)
#
# The image holds the static binary as /bin/registry, the registry:2
# configuration as /etc/docker/registry/config.yml and a VOLUME at
# /var/lib/registry; it exposes 5000 and runs `registry serve
# /etc/docker/registry/config.yml`. REGISTRY_* variables (-e) override the
# configuration as they do for the registry:2 image.
#
# BERTH (default: berth from PATH) and DOCKER_HOST are honoured.
# BERTH_REGISTRY_BIN names a static berth-registry to use; without it the
# script builds one from this repository (CGO_ENABLED=0).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
images=()
tarfile=
case "${1:-}" in
--tar) tarfile=${2:?--tar needs a file} ;;
"") images=(registry:2 registry:latest) ;;
*) images=("$@") ;;
esac
berth=${BERTH:-berth}

rootfs=$(mktemp -d /tmp/berth-registry-image.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"
mkdir -p "$rootfs"/{bin,etc/docker/registry,etc/ssl/certs,tmp,var/lib/registry}
chmod 1777 "$rootfs/tmp"

bin=${BERTH_REGISTRY_BIN:-}
if [ -z "$bin" ]; then
	case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) export PATH="/usr/local/go/bin:$PATH" ;; esac
	bin="$rootfs/bin/registry"
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin" ./cmd/berth-registry)
else
	install -m 0755 "$bin" "$rootfs/bin/registry"
	bin="$rootfs/bin/registry"
fi
chmod 0755 "$bin"
# The image has no libc: the binary must be static.
if command -v file >/dev/null && ! file -L "$bin" | grep -q 'statically linked'; then
	echo "error: $bin is not statically linked (build it with CGO_ENABLED=0)" >&2
	exit 1
fi

# The configuration is the one berth-registry falls back to: registry:2's.
"$bin" config default >"$rootfs/etc/docker/registry/config.yml"
chmod 0644 "$rootfs/etc/docker/registry/config.yml"
# For a pull-through cache (REGISTRY_PROXY_REMOTEURL) over HTTPS.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP

if [ -n "$tarfile" ]; then
	tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$tarfile" .
	echo "wrote $tarfile"
	exit 0
fi

first=${images[0]}
# The label names the binary inside, so install.sh can tell a stale image.
binary_digest=$(sha256sum "$bin" | cut -d' ' -f1)
tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
	"$berth" import -m "berth-registry as a registry:2-compatible image" \
		--change "LABEL berth.registry.binary=sha256:$binary_digest" \
		--change 'ENTRYPOINT ["/bin/registry"]' \
		--change 'CMD ["serve", "/etc/docker/registry/config.yml"]' \
		--change 'EXPOSE 5000' \
		--change 'VOLUME ["/var/lib/registry"]' \
		- "$first"
for image in "${images[@]:1}"; do
	"$berth" tag "$first" "$image"
done
echo "imported ${images[*]}"
