#!/usr/bin/env bash
# make bench's load generator: Debian's wrk (bench/publishing.py, the serve part).
set -euo pipefail
if command -v wrk >/dev/null; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "wrk is missing: install Debian's 'wrk' package for make bench." >&2
  exit 1
fi
echo "Installing Debian's wrk for make bench..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
