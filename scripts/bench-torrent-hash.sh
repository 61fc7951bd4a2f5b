#!/bin/sh
# Hashing speed of `airswarm torrent create` and `airswarm torrent verify` on one core, as a
# fraction of `openssl speed -evp sha1` (one core, 16 KiB blocks) on the same machine.
#
#   scripts/bench-torrent-hash.sh            # 1 GiB of random data
#   SIZE_MB=256 scripts/bench-torrent-hash.sh
#
# The data file is read once beforehand so both runs hash from the page cache; the figure
# is then the SHA-1 + read-path cost, which is what the target (>= 0.9) is about.
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

now() { date +%s.%N; }

t0=$(now)
"$BIN" torrent create "$TMP/data.bin" --piece-size 1M --no-date --threads 1 -o "$TMP/d.torrent" > /dev/null
t1=$(now)
"$BIN" torrent verify "$TMP/d.torrent" --data "$TMP" --threads 1 > /dev/null
t2=$(now)
"$BIN" torrent verify "$TMP/d.torrent" --data "$TMP" > /dev/null
t3=$(now)

# openssl prints e.g. "sha1   1234567.89k" (thousands of bytes per second) for -bytes 16384.
OPENSSL=$(openssl speed -evp sha1 -bytes 16384 -seconds 3 2>/dev/null | awk '/^sha1/ {v=$NF; sub(/k$/, "", v); print v * 1000}')

awk -v b="$BYTES" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v o="$OPENSSL" \
    -v cores="$(nproc)" 'BEGIN {
    c = b / (t1 - t0); v = b / (t2 - t1); va = b / (t3 - t2);
    printf "openssl speed -evp sha1 (1 core, 16 KiB): %8.1f MB/s\n", o / 1e6;
    printf "torrent create (1 thread):               %8.1f MB/s  ratio %.3f\n", c / 1e6, c / o;
    printf "torrent verify (1 thread):               %8.1f MB/s  ratio %.3f\n", v / 1e6, v / o;
    printf "torrent verify (%d threads):              %8.1f MB/s  (%.3f per core)\n", cores, va / 1e6, va / o / cores;
}'
