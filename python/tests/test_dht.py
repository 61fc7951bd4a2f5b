"""Trackerless download from Python: the `dht_bootstrap` option of ``download``.

An ``airswarm dht run`` node and an ``airswarm torrent seed --dht-bootstrap`` seeder (the
CLI, from AIRSWARM_BIN) on 127.0.0.1; Python downloads a magnet link with no tracker,
finding the seeder on the DHT. Every started process is killed by PID.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

import airswarm
from airswarm.torrent import Metainfo, download
from conftest import free_port


@pytest.fixture
def cli() -> str:
    binary = os.environ.get("AIRSWARM_BIN")
    assert binary, "scripts/test-python sets AIRSWARM_BIN to the airswarm binary"
    return binary


def test_magnet_download_with_dht_bootstrap_and_no_tracker(tmp_path: Path, cli: str) -> None:
    data = tmp_path / "seed" / "data.bin"
    data.parent.mkdir()
    data.write_bytes(os.urandom(700_000))
    meta = Metainfo.create(str(data), trackers=[])
    torrent = tmp_path / "t.torrent"
    torrent.write_bytes(meta.to_bytes())
    procs = []
    try:
        node_port = free_port()
        node = subprocess.Popen(
            [cli, "dht", "run", "--json", "--listen", f"127.0.0.1:{node_port}",
             "--state", str(tmp_path / "node.dat")],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        procs.append(node)
        assert node.stdout is not None
        assert "listen" in json.loads(node.stdout.readline())
        procs.append(subprocess.Popen(
            [cli, "torrent", "seed", str(torrent), "--data", str(data.parent),
             "--interface", "127.0.0.1", "--port", str(free_port()),
             "--dht-bootstrap", f"127.0.0.1:{node_port}",
             "--dht-state", str(tmp_path / "seed.dat")],
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        ))
        summary = download(
            f"magnet:?xt=urn:btih:{meta.info_hash}",
            tmp_path / "dl",
            interface="127.0.0.1",
            dht_bootstrap=[f"127.0.0.1:{node_port}"],
            dht_state=tmp_path / "py.dat",
            metadata_timeout=60.0,
        )
        assert summary["complete"]
        assert (tmp_path / "dl" / "data.bin").read_bytes() == data.read_bytes()
        assert (tmp_path / "py.dat").exists(), "the routing table is saved"
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_bad_bootstrap_address_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(airswarm.AirswarmError, match="bootstrap"):
        download(
            "magnet:?xt=urn:btih:" + "ab" * 20,
            tmp_path / "dl",
            interface="127.0.0.1",
            dht_bootstrap=["not an address"],
            dht_state=tmp_path / "py.dat",
            metadata_timeout=5.0,
        )
