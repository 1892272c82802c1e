#!/usr/bin/env bash
# Install the Debian packages named on the command line when any is missing.
# As root it installs them; otherwise it names them and fails, so `make` stops with the fix.
set -euo pipefail
missing=()
for p in "$@"; do
    # Capture, then test: a pipe into a grep that quits at its first match fails under pipefail.
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=
    [[ $status == *"install ok installed"* ]] || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "kvmtune: missing system packages; install them with:" >&2
    echo "    sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "kvmtune: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may be running unattended-upgrades at boot, or another make (the lab, a
# second checkout) may be installing: wait for the dpkg lock instead of failing at once.
wait=(-o DPkg::Lock::Timeout=600)
apt-get "${wait[@]}" update -qq >/dev/null
apt-get "${wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
