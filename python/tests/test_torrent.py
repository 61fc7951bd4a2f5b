import hashlib

import pytest

import airswarm
from airswarm import bencode, torrent


def test_bencode_round_trip_and_types():
    v = {b"a": [1, -2, b"x"], b"b": {b"c": b""}}
    assert bencode.decode(bencode.encode(v)) == v
    assert bencode.encode({"z": 1, "a": "é"}) == b"d1:a2:\xc3\xa91:zi1ee"
    assert bencode.encode((1, 2)) == b"li1ei2ee"
    with pytest.raises(airswarm.EncodeError):
        bencode.encode(1.5)
    with pytest.raises(airswarm.EncodeError):
        bencode.encode(True)
    with pytest.raises(airswarm.EncodeError):
        bencode.encode(2**64)
    loop: list = []
    loop.append(loop)
    with pytest.raises(airswarm.EncodeError, match="deeper"):
        bencode.encode(loop)


@pytest.mark.parametrize(
    "data,offset",
    [(b"i03e", 1), (b"d1:bi1e1:ai2ee", 7), (b"i1ex", 3), (b"l", 1), (b"5:ab", 0), (b"x", 0)],
)
def test_malformed_bencode_raises_decode_error_with_offset(data, offset):
    with pytest.raises(airswarm.DecodeError) as e:
        bencode.decode(data)
    assert e.value.offset == offset, str(e.value)
    assert f"byte {offset}" in str(e.value)


def make_tree(tmp_path):
    root = tmp_path / "album"
    (root / "cd1").mkdir(parents=True)
    (root / "cd1" / "a.bin").write_bytes(bytes(range(256)) * 300)
    (root / "b.txt").write_bytes(b"hello world\n" * 5000)
    return root


def test_create_parse_verify(tmp_path):
    root = make_tree(tmp_path)
    meta = torrent.Metainfo.create(root, trackers=["http://t.example/announce"], piece_length=16384, creation_date=1)
    assert meta.name == "album" and meta.multi_file
    assert [f.path for f in meta.files] == ["album/b.txt", "album/cd1/a.bin"]
    assert meta.total_length == 60000 + 76800
    assert meta.piece_count == len(meta.pieces) == -(-meta.total_length // 16384)
    raw = meta.to_bytes()
    again = torrent.Metainfo.from_bytes(raw)
    assert again == meta and hash(again) == hash(meta)
    info = bencode.decode(raw)[b"info"]
    assert meta.info_hash == hashlib.sha1(bencode.encode(info)).hexdigest()
    assert meta.trackers == ["http://t.example/announce"]
    assert meta.magnet().startswith("magnet:?xt=urn:btih:" + meta.info_hash)
    path = tmp_path / "x.torrent"
    path.write_bytes(raw)
    assert torrent.Metainfo.from_file(str(path)).info_hash == meta.info_hash
    assert all(meta.verify(tmp_path))
    data = bytearray((root / "b.txt").read_bytes())
    data[20000] ^= 1
    (root / "b.txt").write_bytes(bytes(data))
    good = meta.verify(tmp_path)
    assert good.count(False) == 1 and good.index(False) == 1
    (root / "cd1" / "a.bin").unlink()
    assert not any(meta.verify(tmp_path)[4:])


def test_single_file(tmp_path):
    f = tmp_path / "one.iso"
    f.write_bytes(b"\x01" * 40000)
    meta = torrent.Metainfo.create(f, piece_length=32768)
    assert not meta.multi_file and meta.files[0].path == "one.iso" and meta.piece_count == 2
    assert meta.verify(tmp_path) == [True, True]


def test_bad_torrents():
    with pytest.raises(airswarm.TorrentError) as e:
        torrent.Metainfo.from_bytes(b"d4:infoi1ee")
    assert isinstance(e.value, airswarm.DecodeError) and e.value.offset is None
    with pytest.raises(airswarm.DecodeError) as e:
        torrent.Metainfo.from_bytes(b"d4:info")
    assert e.value.offset is not None
    evil = bencode.encode({"info": {"name": "x", "piece length": 16384, "pieces": b"\x00" * 20,
                                    "files": [{"length": 1, "path": [".."]}]}})
    with pytest.raises(airswarm.TorrentError):
        torrent.Metainfo.from_bytes(evil)
