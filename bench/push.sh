#!/usr/bin/env bash
# `crier push` against a bare loop of the same number of signed POSTs of
# the same bodies (bench/push, in Go), in one run: the two rows of the
# fan-out table, 100 items x 20 partners and 400 items x 100 partners,
# with webhooks.max_body = 4KiB. Prints deliveries/s for both and the ratio,
# each the median of three runs (bash bench/push.sh -runs N for more).
# Usage: bash bench/push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/push -items 100 -partners 20 -max-body 4KiB "$@"
echo
go run ./bench/push -items 400 -partners 100 -max-body 4KiB "$@"
