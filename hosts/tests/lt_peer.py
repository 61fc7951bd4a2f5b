"""A libtorrent peer for airswarm's interop tests, on 127.0.0.1 only.

usage: lt_peer.py seed|download TORRENT DIR PORT [PEER_PORT...]
seed: serve DIR until killed. download: exit 0 once complete (1 after 120 s).
TORRENT may be a magnet link (download only): the metadata comes from the peers.
LT_ENC=disabled|enabled|forced (environment; default disabled): the protocol encryption
(MSE/PE) policy for both directions; forced also allows only RC4, not plaintext-mode MSE.
"""
import os
import sys
import time

import libtorrent as lt

mode, torrent, save, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
peers = [int(p) for p in sys.argv[5:]]
enc = os.environ.get("LT_ENC", "disabled")
# libtorrent's enc_policy: pe_forced 0, pe_enabled 1, pe_disabled 2; enc_level: pe_rc4 2, pe_both 3.
policy = {"forced": 0, "enabled": 1, "disabled": 2}[enc]
s = lt.session({
    "listen_interfaces": f"127.0.0.1:{port}",
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "allow_multiple_connections_per_ip": True,
    "out_enc_policy": policy,
    "in_enc_policy": policy,
    "allowed_enc_level": 2 if enc == "forced" else 3,
    "prefer_rc4": enc == "forced",
    "announce_to_all_tiers": True,
    "announce_to_all_trackers": True,
})
if torrent.startswith("magnet:"):
    params = lt.parse_magnet_uri(torrent)
else:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
params.save_path = save
if mode == "seed":
    params.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(params)
for p in peers:
    h.connect_peer(("127.0.0.1", p))
start = time.time()
while time.time() - start < 120:
    st = h.status()
    if mode == "download" and st.is_seeding:
        print("done", flush=True)
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1 if mode == "download" else 0)
