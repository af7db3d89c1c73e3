#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and prints the
# export line for CRIER_TEST_POSTGRES; `source` its output. The cluster
# lives in a temporary folder, runs as the unprivileged postgres user, on
# a free port, with fsync off (data safety does not matter here), and is
# stopped by .ci/postgres-stop.sh or at the end of the machine's session.
# Usage: eval "$(bash .ci/postgres.sh)"
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "echo 'PostgreSQL is not installed (apt-get install postgresql)' >&2; false"; exit 1; }
id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
dir=$(mktemp -d /tmp/crier-pg.XXXXXX)
chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U crier --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
echo "export CRIER_TEST_POSTGRES='postgres://crier@127.0.0.1:$port/postgres?sslmode=disable'"
echo "export CRIER_PG_DIR='$dir'"
