"""airswarm.torrent.download / Session against a real aria2 seeder on 127.0.0.1."""

import os
import shutil
import signal
import subprocess
import threading

import pytest

import airswarm
from airswarm import torrent
from conftest import free_port

SIZE = 3 * 1024 * 1024 + 4321


@pytest.fixture
def swarm(tmp_path):
    """A file, its torrent (no tracker) and an aria2 seeder for it; killed by PID."""
    aria2 = shutil.which("aria2c")
    assert aria2, "aria2c is needed (scripts/test installs the aria2 package)"
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    data = bytes((i * 131 + (i >> 9)) & 0xFF for i in range(SIZE))
    (seed_dir / "data.bin").write_bytes(data)
    meta = torrent.Metainfo.create(seed_dir / "data.bin", piece_length=256 * 1024)
    (tmp_path / "t.torrent").write_bytes(meta.to_bytes())
    port = free_port()
    proc = subprocess.Popen(
        [
            aria2,
            f"--dir={seed_dir}",
            "--seed-ratio=0.0",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            "--bt-seed-unverified=true",
            "--summary-interval=0",
            "--console-log-level=warn",
            f"--listen-port={port}",
            str(tmp_path / "t.torrent"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield meta, data, f"127.0.0.1:{port}", tmp_path
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_session_iterates_progress_and_downloads_identical_bytes(swarm):
    meta, data, peer, tmp = swarm
    records = []
    with torrent.Session(
        str(tmp / "t.torrent"), tmp / "dl", interface="127.0.0.1", peers=[peer]
    ) as s:
        for p in s:
            records.append(p)
        summary = s.wait()
    assert summary is not None and summary["complete"], summary
    assert summary["info_hash"] == meta.info_hash
    assert summary["bytes"] == SIZE
    assert (tmp / "dl" / "data.bin").read_bytes() == data
    assert records and records[-1].complete and records[-1].fraction == 1.0
    assert records[-1].pieces_have == meta.piece_count
    assert all(a.bytes_have <= b.bytes_have for a, b in zip(records, records[1:]))
    assert s.done and s.summary == summary


def test_download_with_a_callback_from_a_metainfo_and_resume(swarm):
    meta, data, peer, tmp = swarm
    seen = []
    summary = torrent.download(
        meta, tmp / "dl", on_progress=seen.append, interface="127.0.0.1", peers=[peer]
    )
    assert summary["complete"] and summary["pieces_at_start"] == 0
    assert (tmp / "dl" / "data.bin").read_bytes() == data
    assert seen and isinstance(seen[0], torrent.Progress)
    # Everything is verified on disk: a second run fetches nothing.
    again = torrent.download(meta.to_bytes(), tmp / "dl", interface="127.0.0.1", peers=[peer])
    assert again["pieces_at_start"] == again["pieces"] and again["payload_downloaded"] == 0


def test_waiting_releases_the_gil(swarm):
    meta, _, peer, tmp = swarm
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    t = threading.Thread(target=count)
    t.start()
    try:
        s = torrent.Session(meta, tmp / "dl", interface="127.0.0.1", peers=[peer])
        summary = s.wait(timeout=90)
    finally:
        stop.set()
        t.join()
    assert summary is not None and summary["complete"]
    assert len(ticks) > 1, "another Python thread ran while wait() blocked"


def test_stop_ends_a_seed_and_errors_use_the_package_exceptions(swarm, tmp_path):
    meta, _, _, tmp = swarm
    s = torrent.Session(meta, tmp / "seed", seed_only=True, interface="127.0.0.1")
    s.stop()
    summary = s.wait(timeout=60)
    assert summary is not None and summary["complete"]
    with pytest.raises(airswarm.TorrentError):
        torrent.Session(b"not a torrent", tmp_path)
    with pytest.raises(airswarm.TorrentError):
        torrent.Session("magnet:?xt=urn:btih:123", tmp_path)
    with pytest.raises(airswarm.ConfigError):
        torrent.Session(meta, tmp_path, interface="nowhere")
    with pytest.raises(airswarm.ConfigError):
        torrent.Session(meta, tmp_path, peers=["localhost"])
    with pytest.raises(airswarm.ConfigError):
        torrent.Session(meta, tmp_path, trust=True)
    with pytest.raises(TypeError):
        torrent.Session(12, tmp_path)
    # Seeding data that is not there fails in the engine: AirswarmError, from wait().
    bad = torrent.Session(meta, tmp_path / "empty", seed_only=True, interface="127.0.0.1")
    with pytest.raises(airswarm.AirswarmError, match="incomplete|cannot|No such"):
        bad.wait(timeout=60)
