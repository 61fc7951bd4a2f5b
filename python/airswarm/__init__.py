"""airswarm: LoRa mesh simulation, sans-IO mesh nodes, RSA identities and channel sealing,
bencode and BitTorrent metainfo, from airswarm's Rust core.

>>> import airswarm
>>> round(airswarm.airtime(sf=7, bw_khz=125, payload=20), 3)
56.576
"""

from airswarm import bencode, torrent
from airswarm._native import (
    BROADCAST,
    MAX_MESSAGE,
    AirswarmError,
    Channel,
    ChannelMessage,
    ConfigError,
    CryptoError,
    DecodeError,
    Delivered,
    EncodeError,
    Identity,
    LoRaConfig,
    MeshError,
    MessageReceived,
    Node,
    PersistCounter,
    PublicKey,
    SendFailed,
    SimResult,
    Simulator,
    TorrentError,
    __version__,
    airtime,
)

__all__ = [
    "BROADCAST",
    "MAX_MESSAGE",
    "AirswarmError",
    "Channel",
    "ChannelMessage",
    "ConfigError",
    "CryptoError",
    "DecodeError",
    "Delivered",
    "EncodeError",
    "Identity",
    "LoRaConfig",
    "MeshError",
    "MessageReceived",
    "Node",
    "PersistCounter",
    "PublicKey",
    "SendFailed",
    "SimResult",
    "Simulator",
    "TorrentError",
    "__version__",
    "airtime",
    "bencode",
    "torrent",
]
