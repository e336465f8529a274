#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a consumer
# through find_package(sam CONFIG) and through pkg-config.
set -euo pipefail
build=$1; src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/sam.h"
ls "$tmp"/prefix/lib*/libsam.so.0 >/dev/null
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH=$(echo "$tmp"/prefix/lib*) "$tmp/consumer/consumer"
pcdir=$(echo "$tmp"/prefix/lib*/pkgconfig)
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs sam)
cc "$src/consumer/main.c" $flags -o "$tmp/pc_consumer"
LD_LIBRARY_PATH=$(echo "$tmp"/prefix/lib*) "$tmp/pc_consumer"
