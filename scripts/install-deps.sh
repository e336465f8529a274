#!/usr/bin/env bash
# Installs what libsam needs on Debian/Ubuntu (run as root, or with sudo).
# CUDA and NCCL are optional and come from the CUDA toolkit in /usr/local/cuda.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git python3 libhwloc-dev hwloc-nox libboost-dev
      libucx-dev ucx-utils libgtest-dev clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
