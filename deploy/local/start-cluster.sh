#!/usr/bin/env bash
# Starts an N-silo local cluster with Redis clustering and Redis grain storage:
#   deploy/local/start-cluster.sh 3
# Redis on 127.0.0.1:$REDIS_PORT (default 6379) is started unless one answers there. Silo i (0..N-1) runs with
# --instance $((FIRST_INSTANCE + i)): silo port 11111+i, client gateway 30000+i, web http://127.0.0.1:$((5080+i)).
# Logs go to deploy/local/logs/, process ids to deploy/local/logs/pids; stop everything with stop-cluster.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
count="${1:-3}"
first="${FIRST_INSTANCE:-0}"
redis_port="${REDIS_PORT:-6379}"
logs="$here/logs"
pids="$logs/pids"

if ! [[ "$count" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N   (N silos, at least 1)" >&2
  exit 2
fi

mkdir -p "$logs"
if [[ -s "$pids" ]]; then
  echo "A cluster started from here may still run ($pids exists): run $here/stop-cluster.sh first." >&2
  exit 1
fi

if redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; then
  echo "Redis answers on 127.0.0.1:$redis_port: using it."
else
  command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)." >&2; exit 1; }
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize no >"$logs/redis.log" 2>&1 &
  echo "redis $!" >>"$pids"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG || { echo "Redis did not start: see $logs/redis.log" >&2; exit 1; }
  echo "Started Redis on 127.0.0.1:$redis_port."
fi

# Build once, then run the dll directly: N 'dotnet run's would build N times and race on the output folder.
dotnet build -c Release "$root/src/Silo" -v quiet -nologo >"$logs/build.log" 2>&1 || { echo "Build failed: see $logs/build.log" >&2; exit 1; }
dll="$(find "$root/src/Silo/bin/Release" -name InsideLLMs.Distributed.Silo.dll -path '*net10.0*' | head -n 1)"
[[ -n "$dll" ]] || { echo "No silo dll under src/Silo/bin/Release." >&2; exit 1; }

export Silo__Clustering=redis Silo__Storage=redis Redis__ConnectionString="127.0.0.1:$redis_port"
gateways=()
for ((i = 0; i < count; i++)); do
  instance=$((first + i))
  (cd "$(dirname "$dll")" && exec dotnet "$dll" --instance "$instance") >"$logs/silo-$instance.log" 2>&1 &
  echo "silo-$instance $!" >>"$pids"
  gateways+=("127.0.0.1:$((30000 + instance))")
done

for ((i = 0; i < count; i++)); do
  instance=$((first + i))
  url="http://127.0.0.1:$((5080 + instance))/health"
  for _ in $(seq 120); do
    curl -sf "$url" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! curl -sf "$url" >/dev/null 2>&1; then
    echo "Silo $instance did not answer $url within 60 s: see $logs/silo-$instance.log" >&2
    exit 1
  fi
  echo "Silo $instance ready: web http://127.0.0.1:$((5080 + instance)), gateway 127.0.0.1:$((30000 + instance))."
done

joined=$(IFS=,; echo "${gateways[*]}")
echo "Cluster of $count silos is up. Client: export INSIDELLMS_GATEWAYS=$joined"
