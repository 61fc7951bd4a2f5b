"""Bad input to the torrent and bencode API: AirswarmError subclasses with the CLI's
messages, no 0-byte torrents of FIFOs or devices, no frozen threads, and odd torrents
that load with warnings."""

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

import airswarm
from airswarm import bencode, torrent


def nested(levels):
    v = b"x"
    for i in range(levels):
        v = [v] if i % 2 else {b"k": v}
    return v


def test_encode_and_decode_share_one_nesting_limit():
    ok = nested(64)
    assert bencode.decode(bencode.encode(ok)) == ok
    with pytest.raises(airswarm.EncodeError, match="64 levels"):
        bencode.encode(nested(65))
    with pytest.raises(airswarm.DecodeError, match="deeper than 64"):
        bencode.decode(b"l" * 65 + b"e" * 65)


@pytest.mark.parametrize(
    "value",
    [1.5, True, None, 2**64, -(2**63) - 1, {1: 2}, {b"a": 1, "a": 2}, [object()], {b"k": {3.0}}],
)
def test_every_encode_error_is_an_airswarm_error(value):
    with pytest.raises(airswarm.EncodeError) as e:
        bencode.encode(value)
    assert isinstance(e.value, airswarm.AirswarmError)
    assert str(e.value).startswith("bencode.encode: ")


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_create_refuses_what_is_no_data(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(airswarm.TorrentError, match="directory has no files"):
        torrent.Metainfo.create(tmp_path / "empty")
    write(tmp_path / "empty" / "sub" / "zero", b"")
    with pytest.raises(airswarm.TorrentError, match="every file is empty"):
        torrent.Metainfo.create(tmp_path / "empty")
    with pytest.raises(airswarm.TorrentError, match="/dev/zero is a character device, not a regular file"):
        torrent.Metainfo.create("/dev/zero")
    # /proc files are regular but report size 0 whatever they hold.
    with pytest.raises(airswarm.TorrentError, match="every file is empty"):
        torrent.Metainfo.create("/proc/self/status")
    with pytest.raises(airswarm.TorrentError, match="no such file or directory: ") as e:
        torrent.Metainfo.create(tmp_path / "nope")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    assert e.value.__cause__.filename == str(tmp_path / "nope")


def test_bad_create_arguments_are_config_errors(tmp_path):
    write(tmp_path / "f", b"data")
    for pl in [2**32, 2**64, -1, 1000, 8192, 2**30]:
        with pytest.raises(airswarm.ConfigError, match="piece length"):
            torrent.Metainfo.create(tmp_path / "f", piece_length=pl)
    with pytest.raises(airswarm.ConfigError, match="piece length must be an int"):
        torrent.Metainfo.create(tmp_path / "f", piece_length="big")  # type: ignore[arg-type]
    for url in ["", "not a url", "tracker.lan/announce"]:
        with pytest.raises(airswarm.ConfigError, match="is refused"):
            torrent.Metainfo.create(tmp_path / "f", trackers=[url])
    with pytest.raises(airswarm.ConfigError, match="web seed"):
        torrent.Metainfo.create(tmp_path / "f", web_seeds=["x"])
    with pytest.raises(airswarm.ConfigError, match="list of URLs"):
        torrent.Metainfo.create(tmp_path / "f", trackers=[3])
    with pytest.raises(airswarm.ConfigError, match="cannot be a torrent name"):
        torrent.Metainfo.create(tmp_path / "f", name="../x")


def test_verify_errors(tmp_path):
    write(tmp_path / "f", b"data" * 5000)
    meta = torrent.Metainfo.create(tmp_path / "f")
    with pytest.raises(airswarm.TorrentError, match="no such file or directory: ") as e:
        meta.verify(tmp_path / "missing")
    assert isinstance(e.value.__cause__, FileNotFoundError)
    with pytest.raises(airswarm.TorrentError, match="is a regular file, not a directory"):
        meta.verify(tmp_path / "f")
    dl = tmp_path / "dl"
    (dl / "f").mkdir(parents=True)
    with pytest.raises(airswarm.TorrentError, match="f is a directory, not a regular file"):
        meta.verify(dl)
    shutil.rmtree(dl / "f")
    assert meta.verify(dl) == [False]  # missing data is bad pieces, not an error
    write(dl / "f", b"data" * 5000)
    assert meta.verify(dl) == [True]


def run_bounded(fn, fifo):
    """Run fn in a thread; if it blocks on the FIFO, open the FIFO for writing to free it,
    and fail."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(10)
        pytest.fail(f"{fn} blocked on a FIFO")
    return result


def test_fifos_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = run_bounded(lambda: torrent.Metainfo.from_file(fifo), fifo)
    assert isinstance(r.get("error"), airswarm.TorrentError), r
    assert "pipe is a FIFO (named pipe), not a regular file" in str(r["error"])
    r = run_bounded(lambda: torrent.Metainfo.create(fifo), fifo)
    assert isinstance(r.get("error"), airswarm.TorrentError), r
    write(tmp_path / "a", b"a" * 40000)
    meta = torrent.Metainfo.create(tmp_path / "a")
    dl = tmp_path / "dl"
    dl.mkdir()
    os.mkfifo(dl / "a")
    r = run_bounded(lambda: meta.verify(dl), dl / "a")
    assert isinstance(r.get("error"), airswarm.TorrentError), r
    # A FIFO inside a tree being shared is refused, not silently left out.
    (tmp_path / "tree").mkdir()
    write(tmp_path / "tree" / "data", b"x")
    os.mkfifo(tmp_path / "tree" / "p")
    r = run_bounded(lambda: torrent.Metainfo.create(tmp_path / "tree"), tmp_path / "tree" / "p")
    assert "a torrent can only hold regular files" in str(r.get("error")), r


def test_file_work_releases_the_gil(tmp_path):
    """While one thread hashes a large (sparse) file, another keeps running Python."""
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(768 << 20)
    spans = {}

    def work():
        spans["start"] = time.monotonic()
        meta = torrent.Metainfo.create(big, piece_length=1 << 22)
        spans["created"] = time.monotonic()
        assert all(meta.verify(tmp_path))
        spans["end"] = time.monotonic()

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0.001)
    t.join()
    during_create = [x for x in ticks if spans["start"] < x < spans["created"]]
    during_verify = [x for x in ticks if spans["created"] < x < spans["end"]]
    # Holding the GIL would leave at most a tick or two at the edges of each call.
    assert len(during_create) > 10 and len(during_verify) > 10, (len(during_create), len(during_verify))


def odd_torrent():
    info = {
        b"name": b"top",
        b"piece length": 16384,
        b"pieces": b"\x07" * 20,
        b"files": [
            {b"length": 5, b"path": [b"line\nbreak"]},
            {b"length": 5, b"path": [b"caf\xe9"]},
        ],
        b"private": b"1",
    }
    return bencode.encode(
        {
            b"info": info,
            b"comment": 42,
            b"creation date": b"1700000000",
            b"announce-list": b"http://t/a",
            b"url-list": 3,
        }
    )


def test_odd_torrents_load_with_warnings():
    data = odd_torrent()
    meta = torrent.Metainfo.from_bytes(data)
    assert [f.path for f in meta.files] == ["top/line_break", "top/caf_"]
    assert meta.comment == "42" and meta.creation_date == 1_700_000_000 and meta.private
    assert meta.announce_list == [] and meta.web_seeds == []
    text = "\n".join(meta.warnings)
    for field in ["comment", "creation date", "announce-list", "url-list", "private"]:
        assert f'"{field}"' in text, text
    assert "line\\nbreak" in text and "top/line_break" in text
    # The info-hash is over the original bytes of info.
    import hashlib

    start = data.index(b"4:infod") + 6
    raw = bencode.decode(data)[b"info"]
    info_bytes = data[start : start + len(bencode.encode(raw))]
    assert meta.info_hash == hashlib.sha1(info_bytes).hexdigest()
    assert torrent.Metainfo.from_bytes(bencode.encode({b"info": {b"name": b"x", b"length": 1, b"piece length": 16384, b"pieces": b"\0" * 20}})).warnings == []


def test_file_and_directory_both_is_refused():
    info = {
        b"name": b"top",
        b"piece length": 16384,
        b"pieces": b"\0" * 20,
        b"files": [{b"length": 1, b"path": [b"a", b"x"]}, {b"length": 1, b"path": [b"a", b"x", b"y"]}],
    }
    with pytest.raises(airswarm.TorrentError, match="both as a file and as a directory"):
        torrent.Metainfo.from_bytes(bencode.encode({b"info": info}))


@pytest.fixture
def open_tmp():
    """A temporary directory user nobody can reach (pytest's tmp_path is under a 0700 one)."""
    import pathlib
    import tempfile

    d = tempfile.mkdtemp(prefix="airswarm-perm-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_unreadable_files_say_permission_denied(open_tmp):
    """Run as user nobody (the tests run as root, who reads everything)."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run a check as user nobody")
    tmp_path = open_tmp
    src = tmp_path / "src"
    src.mkdir(mode=0o755)
    write(src / "open", b"o" * 30000)
    write(src / "secret", b"s" * 30000)
    meta = torrent.Metainfo.create(src)
    write(tmp_path / "t.torrent", meta.to_bytes())
    os.chmod(src / "secret", 0o600)
    os.chmod(tmp_path / "t.torrent", 0o600)
    script = f"""
import airswarm
from airswarm import torrent
for call in [lambda: torrent.Metainfo.create({str(src)!r}),
             lambda: torrent.Metainfo.from_file({str(tmp_path / "t.torrent")!r}),
             lambda: torrent.Metainfo.from_bytes({meta.to_bytes()!r}).verify({str(tmp_path)!r})]:
    try:
        call()
        print("no error")
    except airswarm.TorrentError as e:
        print(type(e.__cause__).__name__, e)
"""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # This interpreter may live where nobody cannot reach it (pyenv under /root); the
    # abi3 wheel also loads in the system Python, given the directory it is installed in.
    site = os.path.dirname(os.path.dirname(os.path.abspath(airswarm.__file__)))
    env = dict(os.environ, PYTHONPATH=site)
    for python in [sys.executable, "/usr/bin/python3"]:
        probe = subprocess.run(nobody + [python, "-c", "import airswarm"], capture_output=True, env=env, cwd="/")
        if probe.returncode == 0:
            break
    else:
        pytest.skip("user nobody can import airswarm from no available Python")
    out = subprocess.run(
        nobody + [python, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == [
        f"PermissionError permission denied: {src / 'secret'}",
        f"PermissionError permission denied: {tmp_path / 't.torrent'}",
        f"PermissionError permission denied: {src / 'secret'}",
    ], out.stdout


def test_shared_keys_decode_like_any_other():
    from airswarm import _native

    keys = [b"announce", b"info", b"info\0", b"peers", b"a", b"a\0", b"e", b"zz", b"length", b"x" * 300, b""]
    d = {k: [i, {k: k}] for i, k in enumerate(keys)}
    data = bencode.encode(d)
    first, second = bencode.decode(data), bencode.decode(data)
    assert first == second == d == _native.bencode_decode_reference(data)
    # Well-known keys are one object process-wide; values are never shared.
    k1 = next(k for k in first if k == b"announce")
    k2 = next(k for k in second if k == b"announce")
    assert k1 is k2
    assert first[b"zz"][1][b"zz"] is not second[b"zz"][1][b"zz"]
