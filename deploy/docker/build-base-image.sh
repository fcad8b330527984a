#!/usr/bin/env bash
# Builds a local .NET runtime base image where no registry can be pulled from: a minimal Debian bookworm root
# filesystem (debootstrap, from Debian's package mirror) imported with `docker import`, plus the .NET and ASP.NET Core
# shared runtimes copied from the SDK on this machine. The images then build with --build-arg BASE_IMAGE=<this tag>.
#
#   sudo deploy/docker/build-base-image.sh [TAG]            (default TAG: insidellms/dotnet-base:bookworm)
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DOTNET_ROOT (default: where `dotnet` resolves).
# Needs root (debootstrap), debootstrap and a running Docker engine.
set -euo pipefail

tag="${1:-insidellms/dotnet-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fail() { echo "build-base-image: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "debootstrap needs root; run with sudo."
command -v debootstrap >/dev/null || fail "debootstrap is not installed (Debian: apt-get install debootstrap)."
command -v docker >/dev/null || fail "docker is not installed."
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (start dockerd first)."

if [[ -z "${DOTNET_ROOT:-}" ]]; then
    command -v dotnet >/dev/null || fail "dotnet is not on PATH; set DOTNET_ROOT to the .NET installation."
    DOTNET_ROOT="$(dirname "$(readlink -f "$(command -v dotnet)")")"
fi

# The newest 10.x of each shared runtime on this machine: the silo runs on Microsoft.AspNetCore.App, which needs the
# Microsoft.NETCore.App beside it.
runtime_version() {
    local name="$1" version
    version="$(ls "$DOTNET_ROOT/shared/$name" 2>/dev/null | grep -E '^10\.' | sort -V | tail -n 1 || true)"
    [[ -n "$version" ]] || fail "no $name 10.x under $DOTNET_ROOT/shared (dotnet --list-runtimes says what is installed)."
    echo "$version"
}
netcore="$(runtime_version Microsoft.NETCore.App)"
aspnet="$(runtime_version Microsoft.AspNetCore.App)"

rootfs="$(mktemp -d /tmp/insidellms-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

# minbase: essential packages and apt only. ICU for .NET's globalization, OpenSSL for TLS (Redis, RabbitMQ),
# CA certificates, tzdata for time zones, curl for probing from inside a container; passwd (useradd) is in minbase.
echo "debootstrap bookworm into $rootfs (about a minute) ..."
debootstrap --variant=minbase --include=ca-certificates,libicu72,libssl3,tzdata,curl bookworm "$rootfs" "$mirror"

echo "copying .NET $netcore and ASP.NET Core $aspnet from $DOTNET_ROOT ..."
target="$rootfs/usr/share/dotnet"
mkdir -p "$target/shared/Microsoft.NETCore.App" "$target/shared/Microsoft.AspNetCore.App" "$target/host"
cp -a "$DOTNET_ROOT/dotnet" "$target/"
cp -a "$DOTNET_ROOT/host/fxr" "$target/host/"
cp -a "$DOTNET_ROOT/shared/Microsoft.NETCore.App/$netcore" "$target/shared/Microsoft.NETCore.App/"
cp -a "$DOTNET_ROOT/shared/Microsoft.AspNetCore.App/$aspnet" "$target/shared/Microsoft.AspNetCore.App/"
cp -a "$DOTNET_ROOT/LICENSE.txt" "$DOTNET_ROOT/ThirdPartyNotices.txt" "$target/" 2>/dev/null || true
ln -sf /usr/share/dotnet/dotnet "$rootfs/usr/bin/dotnet"

# Package caches and lists are not needed at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

echo "importing as $tag ..."
tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV DOTNET_ROOT=/usr/share/dotnet' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag"
docker run --rm "$tag" dotnet --list-runtimes
echo "base image $tag is ready: deploy/docker/build-images.sh $tag"
