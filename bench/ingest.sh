#!/usr/bin/env bash
# Ingest of a feed source (HTTP on loopback, decode, parse, normalize,
# store in SQLite), its rounds back to back and the background work they
# leave (indexing for search, merges) timed with them, against gofeed
# parsing the same bytes afterwards, in one run. Prints items/s for both
# and the ratio of the times.
# Usage: bash bench/ingest.sh [rounds of 50 entries, default 40]
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./internal/ingest -run '^$' -bench FeedIngest -benchtime "${1:-40}x" | grep -E 'Benchmark|ok'
