"""A libtorrent DHT node for airswarm's DHT interop tests, on 127.0.0.1 only.

usage: lt_dht.py PORT BOOT_PORTS MODE [ARGS...]
  BOOT_PORTS: comma-separated UDP ports of DHT nodes on 127.0.0.1 to bootstrap from ("-": none)
  node                      run a DHT node until killed
  announce INFOHASH DIR     add a magnet for INFOHASH (saving into DIR), so libtorrent
                            announces itself (127.0.0.1:PORT) on the DHT every 2 s (the
                            Python bindings cannot call dht_announce)
  get_peers INFOHASH WANT   dht_get_peers every 2 s until WANT ("IP:PORT") is among the
                            peers: print "found", exit 0 (1 after 60 s)
  seed TORRENT DIR          seed TORRENT (no tracker) from DIR, announcing on the DHT
  download MAGNET DIR       download MAGNET into DIR with peers from the DHT only: print
                            "done", exit 0 (1 after 90 s)
Prints "ready" once the DHT has at least one node (at once when BOOT_PORTS is "-").
"""
import sys
import time

import warnings

import libtorrent as lt

warnings.simplefilter("ignore", DeprecationWarning)

port = int(sys.argv[1])
boots = [] if sys.argv[2] == "-" else [int(p) for p in sys.argv[2].split(",")]
mode = sys.argv[3]
args = sys.argv[4:]

s = lt.session({
    "listen_interfaces": f"127.0.0.1:{port}",
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": True,
    "dht_bootstrap_nodes": "",
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "allow_multiple_connections_per_ip": True,
    "out_enc_policy": 2,
    "in_enc_policy": 2,
    # Every node is 127.0.0.1: no per-IP routing or search restrictions, no id checks,
    # no blocking of an IP that sends many queries.
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
    "dht_prefer_verified_node_ids": False,
    "dht_block_ratelimit": 100000,
    "dht_announce_interval": 3,
    "alert_mask": lt.alert_category.all,
})
for b in boots:
    s.add_dht_node(("127.0.0.1", b))

start = time.time()
while boots and s.status().dht_nodes == 0 and time.time() - start < 30:
    for b in boots:
        s.add_dht_node(("127.0.0.1", b))
    time.sleep(0.2)
print("ready", s.status().dht_nodes, flush=True)

if mode == "node":
    while True:
        time.sleep(1)
elif mode == "announce":
    params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{args[0]}")
    params.save_path = args[1]
    h = s.add_torrent(params)
    while True:
        h.force_dht_announce()
        time.sleep(2)
elif mode == "get_peers":
    ih = lt.sha1_hash(bytes.fromhex(args[0]))
    want = args[1]
    last = 0.0
    while time.time() - start < 60:
        if time.time() - last > 2:
            s.dht_get_peers(ih)
            last = time.time()
        for a in s.pop_alerts():
            if isinstance(a, lt.dht_get_peers_reply_alert):
                peers = [f"{ip}:{p}" for ip, p in a.peers()]
                print("peers", " ".join(peers), flush=True)
                if want in peers:
                    print("found", flush=True)
                    sys.exit(0)
        time.sleep(0.1)
    sys.exit(1)
elif mode == "seed":
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args[0])
    params.save_path = args[1]
    params.flags |= lt.torrent_flags.seed_mode
    h = s.add_torrent(params)
    while True:
        h.force_dht_announce()
        time.sleep(2)
elif mode == "download":
    params = lt.parse_magnet_uri(args[0])
    params.save_path = args[1]
    h = s.add_torrent(params)
    while time.time() - start < 90:
        if h.status().is_seeding:
            print("done", flush=True)
            sys.exit(0)
        time.sleep(0.2)
    sys.exit(1)
else:
    sys.exit(f"unknown mode {mode}")
