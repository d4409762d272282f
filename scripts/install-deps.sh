#!/usr/bin/env bash
# Installs the system packages evalengine builds against (Debian/Ubuntu). Idempotent: packages
# already present are not reinstalled. Used by the README and by .ci/run.
set -euo pipefail

# chromium: the scripted screenshot check of the HTML reports (scripts/check-html-report.py);
# prometheus: promtool and a real Prometheus for scripts/check-service.py; wrk: scripts/bench-service.sh;
# valgrind: instruction counts for the regression guard (scripts/bench-instructions.py);
# nginx-light + openssl: the TLS test (a gateway with a private CA in front of the simulator).
PACKAGES=(libopenblas-dev liblapacke-dev libsqlite3-dev libssl-dev pkg-config chromium prometheus wrk valgrind nginx-light openssl zlib1g-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present (${PACKAGES[*]})"
  exit 0
fi

cmd="apt-get update -q && apt-get install -y -q --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo sh -c "$cmd"
  else
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root:  sudo sh -c '$cmd'" >&2
    exit 1
  fi
else
  DEBIAN_FRONTEND=noninteractive sh -c "$cmd"
fi
echo "install-deps: installed ${missing[*]}"
