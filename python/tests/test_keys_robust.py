"""Keys and channels under careless use: special files, bad modes, DER files, threads,
and the simulator's seed giving the CLI's exact result."""

import json
import os
import stat
import subprocess
import threading

import pytest

import airswarm
from airswarm import Channel, CryptoError, Identity


def test_load_refuses_special_files_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, what in [(fifo, "named pipe"), ("/dev/zero", "character device"), (tmp_path, "directory")]:
        done = []

        def load(p=path):
            try:
                Identity.load(str(p))
            except CryptoError as e:
                done.append(str(e))

        t = threading.Thread(target=load, daemon=True)
        t.start()
        t.join(20)
        assert not t.is_alive(), f"Identity.load({path}) hung"
        assert done and what in done[0], done


def test_load_explains_bad_contents_and_modes(tmp_path, identity):
    good = tmp_path / "good.pem"
    identity.save(str(good))
    assert stat.S_IMODE(os.stat(good).st_mode) == 0o600
    assert Identity.load(str(good)).fingerprint == identity.fingerprint
    pem = good.read_bytes()
    cases = {
        "empty.pem": (b"", "empty"),
        "cut.pem": (pem[: len(pem) // 2], "truncated"),
        "huge.pem": (b"A" * (1 << 20), "larger"),
        "public.pem": (identity.public.to_pem().encode(), "public key"),
        "binary.der": (b"\x30\x82\x04\xbe\x02\x01\x00\xff\xfe", "DER"),
    }
    for name, (data, want) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        os.chmod(p, 0o600)
        with pytest.raises(CryptoError, match=want):
            Identity.load(str(p))
    os.chmod(good, 0o640)
    with pytest.raises(CryptoError, match="readable by other users"):
        Identity.load(str(good))
    os.chmod(good, 0o620)
    with pytest.raises(CryptoError, match="writable by other users"):
        Identity.load(str(good))
    with pytest.raises(CryptoError, match="no such file or directory: .*missing.pem") as e:
        Identity.load(str(tmp_path / "missing.pem"))
    assert isinstance(e.value.__cause__, FileNotFoundError)


def test_save_is_atomic_fixes_the_mode_and_never_follows_a_symlink(tmp_path, identity):
    p = tmp_path / "key.pem"
    p.write_text("old")
    os.chmod(p, 0o644)
    identity.save(str(p))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert Identity.load(str(p)).fingerprint == identity.fingerprint
    target = tmp_path / "elsewhere"
    target.write_text("do not touch")
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    with pytest.raises(CryptoError, match="symbolic link"):
        identity.save(str(link))
    assert target.read_text() == "do not touch"
    with pytest.raises(CryptoError, match="directory"):
        identity.save(str(tmp_path))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["elsewhere", "key.pem", "link.pem"]


def test_a_channel_is_safe_to_share_between_threads():
    key = Channel.generate_key()
    sender, receiver = Channel(key), Channel(key)
    per_thread, threads = 500, 8
    sealed = [[(t + 1, sender.seal(t + 1, b"m%d-%d" % (t, i))) for i in range(per_thread)] for t in range(threads)]
    errors, opened = [], []

    def work(batch):
        for src, blob in batch:
            try:
                opened.append(receiver.open(src, blob).plaintext)
            except Exception as e:  # noqa: BLE001 - any failure is the test's failure
                errors.append(repr(e))

    pool = [threading.Thread(target=work, args=(b,)) for b in sealed]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert len(opened) == per_thread * threads
    # Replays are still refused once the threads are done.
    with pytest.raises(CryptoError, match="replay"):
        receiver.open(*sealed[0][0])


def airswarm_binary():
    path = os.environ.get("AIRSWARM_BIN")
    assert path, "scripts/test-python sets AIRSWARM_BIN to the airswarm binary"
    return path


def test_the_same_seed_gives_the_cli_result_from_python(tmp_path):
    settings = dict(nodes=6, messages=4, seed=424242, area_m=3000.0, crypto=True)
    cli = subprocess.run(
        [airswarm_binary(), "sim", "--json", "--nodes", "6", "--messages", "4",
         "--seed", "424242", "--area-m", "3000"],
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        capture_output=True, check=True, timeout=300,
    )
    from_cli = json.loads(cli.stdout)
    from_python = airswarm.Simulator(**settings).run().to_dict()
    shared = sorted(set(from_cli) & set(from_python) - {"wall_s", "events_per_s"})
    assert {"delivery_ratio", "transmissions", "airtime_s", "latency_p95_ms"} <= set(shared)
    assert {k: from_cli[k] for k in shared} == {k: from_python[k] for k in shared}


def test_keyring_pins_saves_and_loads_by_fingerprint(tmp_path, identity):
    ring = airswarm.Keyring()
    assert ring.pin(identity.public) is True
    assert ring.pin(identity.public.to_pem().encode()) is False  # already pinned
    assert len(ring) == 1 and identity.fingerprint in ring
    assert ring.fingerprints_at(identity.address) == [identity.fingerprint]
    assert ring.get(identity.fingerprint) == identity.public
    path = tmp_path / "keyring.txt"
    ring.save(str(path))
    again = airswarm.Keyring.load(str(path))
    assert again.export() == ring.export()
    assert again.remove(identity.fingerprint) is True
    assert again.remove(identity.fingerprint) is False
    assert len(again) == 0
    with pytest.raises(CryptoError, match="empty"):
        ring.pin(b"")
    with pytest.raises(CryptoError):
        ring.import_text("zz 00\n")
    assert len(ring) == 1, "a bad import changes nothing"
    with pytest.raises(airswarm.ConfigError):
        airswarm.Keyring(capacity=0)
    with pytest.raises(CryptoError, match="named pipe|regular file"):
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        airswarm.Keyring.load(str(fifo))


def test_channel_replay_windows_survive_a_restart():
    key = Channel.generate_key()
    sender, receiver = Channel(key), Channel(key)
    old = sender.seal(7, b"before the restart")
    receiver.open(7, old)
    state = receiver.save_state()
    restarted = Channel(key)
    assert restarted.restore_state(state) == 1
    with pytest.raises(CryptoError, match="replay"):
        restarted.open(7, old)
    assert restarted.open(7, sender.seal(7, b"after")).plaintext == b"after"
    with pytest.raises(CryptoError):
        restarted.restore_state(b"\x02garbage")
