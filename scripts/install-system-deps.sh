#!/usr/bin/env bash
# Installs the Debian packages the workshop uses when they are missing: nginx (serving), graphviz (the notebooks'
# diagrams), and where possible docker.io + debootstrap (a real container engine). Quick when everything is there.
set -euo pipefail

want=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx)
command -v dot >/dev/null 2>&1 || want+=(graphviz)
if [ "${MLOPS_SKIP_ENGINE:-0}" != "1" ]; then
  command -v dockerd >/dev/null 2>&1 || want+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || want+=(debootstrap)
fi
[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${want[*]}; install them with your package manager (tests that need them will skip)" >&2
  exit 0
fi

echo "install-system-deps: installing ${want[*]}" >&2
# Keep package scripts from starting nginx or dockerd as system services: the workshop starts its own.
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy -eq 0 ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
trap '[ $had_policy -eq 0 ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
if ! apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null; then
  # The engine is optional: nginx and graphviz are required.
  required=()
  for name in nginx graphviz; do [[ " ${want[*]} " == *" $name "* ]] && required+=("$name"); done
  if [ ${#required[@]} -gt 0 ]; then apt-get install -y -qq --no-install-recommends "${required[@]}" >/dev/null; fi
  echo "install-system-deps: could not install all of ${want[*]}; tests that need them will skip" >&2
fi
