#!/usr/bin/env bash
# Publishes the silo and the client (Release, linux-x64, framework-dependent) and builds their images on BASE_IMAGE.
#
#   deploy/docker/build-images.sh [BASE_IMAGE] [TAG]
#
# BASE_IMAGE defaults to mcr.microsoft.com/dotnet/aspnet:10.0; where no registry is reachable, first build a local base
# with deploy/docker/build-base-image.sh and pass its tag. TAG defaults to "local"; the images are
# insidellms/silo:TAG and insidellms/client:TAG.
set -euo pipefail

base="${1:-mcr.microsoft.com/dotnet/aspnet:10.0}"
tag="${2:-local}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/publish"

rm -rf "$out"
# Publish copies TorchSharp's native libraries and patches libLibTorchSharp.so in the publish folder (Directory.Build.targets).
dotnet publish "$root/src/Silo/Silo.csproj" -c Release -o "$out/silo"
dotnet publish "$root/src/Client/Client.csproj" -c Release -o "$out/client"

docker build --build-arg "BASE_IMAGE=$base" -f "$here/silo.Dockerfile" -t "insidellms/silo:$tag" "$out/silo"
docker build --build-arg "BASE_IMAGE=$base" -f "$here/client.Dockerfile" -t "insidellms/client:$tag" "$out/client"
echo "built insidellms/silo:$tag and insidellms/client:$tag on $base"
