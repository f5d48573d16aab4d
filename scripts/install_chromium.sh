#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it through executable_path; its own
# browser download does not work offline). Idempotent; needs root or sudo. Run: scripts/install_chromium.sh
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "scripts/install_chromium.sh: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
echo "installed $(chromium --version)"
