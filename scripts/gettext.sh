#!/usr/bin/env bash
# GNU gettext (xgettext, msgmerge, msgfmt): makemessages/compilemessages and the catalogue
# tests (tests/i18n) run them.
set -euo pipefail
if command -v msgfmt >/dev/null 2>&1 && command -v xgettext >/dev/null 2>&1 && command -v msgmerge >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gettext is missing and we are not root: apt-get install gettext (the catalogue tests need it)" >&2
  exit 1
fi
echo "installing gettext with apt-get" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
