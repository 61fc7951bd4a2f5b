#!/bin/sh
# Hashing speed of `airswarm torrent create` and `airswarm torrent verify` with one hashing
# thread, as a fraction of `openssl speed -evp sha1` (one core, 16 KiB blocks).
#
#   scripts/bench-torrent-hash.sh            # 1 GiB of random data
#   SIZE_MB=256 scripts/bench-torrent-hash.sh
#
# Two views, because the machine may be shared:
# - wall clock vs `openssl speed -elapsed` (what a user waits for; one hashing thread plus
#   its read-ahead thread);
# - CPU seconds (user + system, all our threads) vs `openssl speed` (which divides by CPU
#   user time): the whole cost per core, including the kernel's copy out of the page cache.
# The data file is read once beforehand so every run hashes from the page cache.
set -eu
SIZE_MB=${SIZE_MB:-1024}
cd "$(dirname "$0")/.."
cargo build --release -q -p airswarm-hosts
BIN=$PWD/target/release/airswarm
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
head -c "${SIZE_MB}M" /dev/urandom > "$TMP/data.bin"
cat "$TMP/data.bin" > /dev/null
BYTES=$((SIZE_MB * 1024 * 1024))

# Prints "wall cpu" seconds for a command.
timed() {
    /usr/bin/time -f "%e %U %S" -o "$TMP/time" "$@" > /dev/null
    awk '{print $1, $2 + $3}' "$TMP/time"
}

CREATE=$(timed "$BIN" torrent create "$TMP/data.bin" --piece-size 1M --no-date --threads 1 -o "$TMP/d.torrent")
VERIFY=$(timed "$BIN" torrent verify "$TMP/d.torrent" --data "$TMP" --threads 1)
VERIFY_ALL=$(timed "$BIN" torrent verify "$TMP/d.torrent" --data "$TMP")

# openssl prints e.g. "sha1   1234567.89k" (thousands of bytes per second) for -bytes 16384.
ossl() { openssl speed "$@" -evp sha1 -bytes 16384 -seconds 3 2>/dev/null | awk '/^sha1/ {v=$NF; sub(/k$/, "", v); print v * 1000}'; }
OSSL_CPU=$(ossl)
OSSL_WALL=$(ossl -elapsed)

awk -v b="$BYTES" -v c="$CREATE" -v v="$VERIFY" -v va="$VERIFY_ALL" -v oc="$OSSL_CPU" -v ow="$OSSL_WALL" \
    -v cores="$(nproc)" 'BEGIN {
    split(c, C, " "); split(v, V, " "); split(va, VA, " ");
    printf "openssl speed -evp sha1, 1 core:  %7.1f MB/s per CPU second, %7.1f MB/s wall\n", oc / 1e6, ow / 1e6;
    printf "%-28s %10s %7s %12s %7s\n", "", "wall MB/s", "ratio", "MB/CPU-s", "ratio";
    printf "%-28s %10.1f %7.3f %12.1f %7.3f\n", "torrent create (1 hasher)", b / C[1] / 1e6, b / C[1] / ow, b / C[2] / 1e6, b / C[2] / oc;
    printf "%-28s %10.1f %7.3f %12.1f %7.3f\n", "torrent verify (1 hasher)", b / V[1] / 1e6, b / V[1] / ow, b / V[2] / 1e6, b / V[2] / oc;
    printf "%-28s %10.1f %7.3f %12.1f %7.3f\n", "torrent verify (" cores " hashers)", b / VA[1] / 1e6, b / VA[1] / ow / cores, b / VA[2] / 1e6, b / VA[2] / oc;
    print "(the all-core wall ratio is per core: wall MB/s / cores / openssl)";
}'
