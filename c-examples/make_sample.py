"""Writes the test inputs of the torrent examples into DIR: sample.bin (a deterministic
100 000-byte file), sample.torrent (single file, 16 KiB pieces) and multi.torrent (two
files and a BEP 47 pad file). Standard library only."""
import hashlib
import os
import sys


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(benc(k) + benc(x) for k, x in items) + b"e"
    raise TypeError(v)


def pieces(data, plen):
    return b"".join(hashlib.sha1(data[i : i + plen]).digest() for i in range(0, len(data), plen))


out = sys.argv[1]
data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(100_000))
plen = 16384
with open(os.path.join(out, "sample.bin"), "wb") as f:
    f.write(data)
single = {
    "announce": "http://tracker.example/announce",
    "info": {"name": "sample.bin", "length": len(data), "piece length": plen, "pieces": pieces(data, plen)},
}
with open(os.path.join(out, "sample.torrent"), "wb") as f:
    f.write(benc(single))
a, b = data[:20000], data[20000:30000]
pad = plen * 2 - len(a)
multi = {
    "announce": "http://tracker.example/announce",
    "comment": "airswarm c-examples",
    "info": {
        "name": "album",
        "piece length": plen,
        "files": [
            {"path": ["a.txt"], "length": len(a)},
            {"path": [".pad", str(pad)], "length": pad, "attr": "p"},
            {"path": ["sub", "b.txt"], "length": len(b)},
        ],
        "pieces": pieces(a + bytes(pad) + b, plen),
    },
}
with open(os.path.join(out, "multi.torrent"), "wb") as f:
    f.write(benc(multi))
