#!/usr/bin/env bash
# Serves a 50-item Atom feed from crier and the very same bytes from nginx
# (a static file), loads both with wrk in one run, and prints requests per
# second and the ratio, for full responses (200) and for conditional polls
# answered 304. Needs Debian's nginx and wrk:
#   apt-get install -y nginx-light wrk
# Usage: bash bench/feeds.sh [seconds per run, default 10]
set -euo pipefail
secs="${1:-10}"
cd "$(dirname "$0")/.."
for tool in nginx wrk go curl; do
  command -v "$tool" >/dev/null || { echo "bench/feeds.sh needs $tool (apt-get install -y nginx-light wrk)"; exit 1; }
done
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/crier" ./cmd/crier
mkdir -p "$work/releases" "$work/www"
words=(migration migrants border health refugees asylum shelter water families support government partners
  funding programme centre training employment housing schools children women return reintegration floods
  drought violence camps registration data survey report conference ministry office coast river valley market
  road bridge clinic vaccine teachers farmers harvest season rain storm wind fire police court law rights)
n=${#words[@]}
for i in $(seq 1 50); do
  RANDOM=$i # the same releases on every run
  {
    echo "Release $i about ${words[$((RANDOM % n))]} and ${words[$((RANDOM % n))]}"
    echo
    printf 'GENEVA – '
    for w in $(seq 1 200); do printf '%s ' "${words[$((RANDOM % n))]}"; done
    echo
  } > "$work/releases/r$i.txt"
done
port_crier=18080; port_nginx=18081
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$port_crier"
base_url = "http://127.0.0.1:$port_crier"
[storage]
dsn = "$work/crier.db"
[[sources]]
id = "bench"
kind = "dir"
path = "$work/releases"
language = "en"
TOML
"$work/crier" fetch --config "$work/config.toml" >/dev/null
"$work/crier" serve --config "$work/config.toml" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port_crier/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -H 'Accept-Encoding: identity' "http://127.0.0.1:$port_crier/feeds/all.atom" -o "$work/www/all.atom"
etag=$(curl -sfI -H 'Accept-Encoding: identity' "http://127.0.0.1:$port_crier/feeds/all.atom" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log /dev/stderr;
events { worker_connections 1024; }
http {
  access_log off;
  types { application/atom+xml atom; }
  etag on;
  server { listen 127.0.0.1:$port_nginx; root $work/www; }
}
NGINX
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port_nginx/all.atom" >/dev/null && break; sleep 0.1; done
nginx_etag=$(curl -sfI "http://127.0.0.1:$port_nginx/all.atom" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
cmp -s "$work/www/all.atom" <(curl -sf -H 'Accept-Encoding: identity' "http://127.0.0.1:$port_crier/feeds/all.atom") \
  || { echo "crier and nginx would not serve the same bytes"; exit 1; }
echo "feed: $(grep -c '<entry' "$work/www/all.atom") entries, $(wc -c < "$work/www/all.atom") bytes; wrk -t1 -c50 -d${secs}s"

rps() { wrk -t1 -c50 -d"${secs}s" "$@" | awk '/Requests\/sec/{print $2}'; }
c200=$(rps -H 'Accept-Encoding: identity' "http://127.0.0.1:$port_crier/feeds/all.atom")
n200=$(rps "http://127.0.0.1:$port_nginx/all.atom")
c304=$(rps -H "If-None-Match: $etag" -H 'Accept-Encoding: identity' "http://127.0.0.1:$port_crier/feeds/all.atom")
n304=$(rps -H "If-None-Match: $nginx_etag" "http://127.0.0.1:$port_nginx/all.atom")
printf '%-6s %14s %14s %8s\n' status crier_req/s nginx_req/s ratio
printf '%-6s %14.0f %14.0f %8.2f\n' 200 "$c200" "$n200" "$(echo "$c200 / $n200" | bc -l)"
printf '%-6s %14.0f %14.0f %8.2f\n' 304 "$c304" "$n304" "$(echo "$c304 / $n304" | bc -l)"
