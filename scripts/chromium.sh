#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${WARDEN_CHROMIUM:-}" ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing and we are not root: apt-get install chromium (browser tests need it)" >&2
  exit 1
fi
echo "installing chromium with apt-get" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
