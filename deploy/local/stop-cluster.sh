#!/usr/bin/env bash
# Stops what start-cluster.sh started (silos first, newest first, then Redis if it started one), by process id.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pids="$here/logs/pids"
if [[ ! -s "$pids" ]]; then
  echo "Nothing to stop ($pids is missing or empty)."
  exit 0
fi

# Silos before Redis (their storage and membership live there); later silos before the first.
mapfile -t entries < <(grep '^silo-' "$pids" | tac; grep '^redis ' "$pids" || true)
for entry in "${entries[@]}"; do
  read -r name pid <<<"$entry"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "Stopped $name ($pid)."
  fi
done
rm -f "$pids"
