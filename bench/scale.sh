#!/usr/bin/env bash
# A store built through crier's own ingest, measured at 10,000 and at
# 1,000,000 items: every route uncached, the index and OPML, runs of 50
# and of 500 new releases into a source with a long history, opening and
# warming the store. Prints each figure at both sizes and the ratio. The
# store grows through the sizes, a copy kept at each but the last
# (DIR/at-10000); both are then measured side by side, in turn. The
# 1,000,000-item store takes about ten minutes and six GB to build;
# pass -dir DIR to keep it (a later run with the same DIR starts from it). -merge-after N then stores N more releases
# and times the background merge of their near-duplicate keys.
# Usage: bash bench/scale.sh [-sizes 10000,1000000] [-dir DIR] [-merge-after N]
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/scale "${@:--sizes=10000,1000000}"
