"""A mature RNode host against `airswarm rnode-emulator`: Reticulum's own RNodeInterface
(RNS, installed by scripts/test-python) opens two emulated RNodes on their ptys, brings
them up with its detect / firmware / configure / validate sequence, and exchanges packets
through the simulated channel, including one that RNode splits into two frames."""

import os
import subprocess
import time

import RNS
from RNS.Interfaces.RNodeInterface import RNodeInterface


class _ReticulumStub:
    """RNodeInterface asks the running Reticulum instance for defaults; none runs here."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: 256


class _Owner:
    def __init__(self):
        self.got = []

    def inbound(self, data, interface):
        self.got.append(bytes(data))


def _wait(cond, seconds):
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


def test_reticulum_rnode_interface_talks_to_the_emulator(monkeypatch):
    binary = os.environ.get("AIRSWARM_BIN")
    assert binary, "scripts/test-python sets AIRSWARM_BIN to the airswarm binary"
    monkeypatch.setattr(RNS.Reticulum, "get_instance", staticmethod(lambda: _ReticulumStub()))
    emu = subprocess.Popen([binary, "rnode-emulator", "--count", "2"], stdout=subprocess.PIPE, text=True)
    ifaces = []
    try:
        ports = [emu.stdout.readline().strip() for _ in range(2)]
        assert all(p.startswith("/dev/") for p in ports), ports
        owners = [_Owner(), _Owner()]
        for i, port in enumerate(ports):
            cfg = {
                "name": f"emulated{i}",
                "port": port,
                "frequency": 868100000,
                "bandwidth": 125000,
                "txpower": 14,
                "spreadingfactor": 7,
                "codingrate": 5,
                "flow_control": True,
            }
            ifaces.append(RNodeInterface(owners[i], cfg))
        for iface in ifaces:
            assert iface.online
            assert (iface.maj_version, iface.min_version) >= (1, 52)
            assert iface.platform == 0x80 and iface.mcu == 0x81  # ESP32

        ifaces[0].process_outgoing(b"hello from reticulum")
        assert _wait(lambda: owners[1].got, 5), "the second RNode heard nothing"
        assert owners[1].got == [b"hello from reticulum"]
        assert -130 < ifaces[1].r_stat_rssi < 0
        assert ifaces[1].r_stat_snr is not None

        big = bytes(range(256)) + bytes(range(200))  # over 254 bytes: two frames on the air
        ifaces[1].process_outgoing(big)
        assert _wait(lambda: owners[0].got, 5), "the first RNode heard nothing"
        assert owners[0].got == [big]
    finally:
        for iface in ifaces:
            try:
                iface.serial.close()
            except Exception:
                pass
        emu.kill()
        emu.wait()
