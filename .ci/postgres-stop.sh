#!/usr/bin/env bash
# Stops and removes the cluster .ci/postgres.sh started.
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "${CRIER_PG_DIR:-}" ] && [ -d "$CRIER_PG_DIR" ] || exit 0
runuser -u postgres -- "$bin/pg_ctl" -D "$CRIER_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$CRIER_PG_DIR"
