#!/usr/bin/env bash
# The test command: installs the Debian packages the tests need when they are missing, then runs every test.
# On a fresh Debian 12 machine with only the .NET SDK, this is all a newcomer types.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

# Debian packages the tests need, one per line.
apt_packages=(
  redis-server     # the real-process failover test starts its own Redis on loopback
  rabbitmq-server  # the rankings-over-the-bus test starts its own broker on loopback
  chromium         # the walkthrough page's browser tests drive it through Playwright (never downloaded at run time)
  fonts-liberation # so the page's text renders in the screenshots those tests save
  docker.io        # the container test runs Redis and silo containers (it starts dockerd as root when none answers)
  iptables         # dockerd's bridge networking
  debootstrap      # the container test's base image: a Debian root file system (nothing can be pulled from a registry)
)

missing=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "Installing Debian packages: ${missing[*]}"
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    as_root=(sudo)
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec dotnet test InsideLLMs.Distributed.sln "$@"
