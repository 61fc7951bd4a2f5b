"""BitTorrent: metainfo (.torrent files) and the network engine.

``Metainfo.from_file(path)`` / ``Metainfo.from_bytes(data)`` parse (malformed files raise
:class:`airswarm.TorrentError`, a :class:`airswarm.DecodeError`; odd but harmless fields
and mapped file names are listed in ``meta.warnings``); ``Metainfo.create(path,
trackers=[...])`` hashes a file or directory; ``meta.verify(download_dir)`` returns one
bool per piece.

File work releases the GIL. Only regular files are read: a FIFO, a device or a directory
where a file belongs raises :class:`airswarm.TorrentError` at once, as does a file that
cannot be read (the message names it, e.g. ``permission denied: PATH``; the ``OSError`` is
the ``__cause__``). Bad arguments (piece length, tracker URLs, name) raise
:class:`airswarm.ConfigError`.

``download(source, directory)`` fetches a torrent (a .torrent path, a magnet link, torrent
bytes or a ``Metainfo``) from its trackers' peers and returns the summary dict;
``Session(...)`` runs a download or seed in the background and yields ``Progress``
records when iterated. Both release the GIL while they wait.
"""

import os
from typing import Any, Callable, Literal, Optional, Sequence, Union

from airswarm._native import Metainfo, Progress, Session, TorrentError, TorrentFile

__all__ = ["Metainfo", "Progress", "Session", "TorrentError", "TorrentFile", "download"]


def download(
    source: Union[str, bytes, "os.PathLike[str]", Metainfo],
    directory: Union[str, "os.PathLike[str]"],
    *,
    on_progress: Optional[Callable[[Progress], Any]] = None,
    port: int = 0,
    interface: str = "0.0.0.0",
    peers: Sequence[str] = (),
    max_peers: int = 50,
    max_rate: Optional[int] = None,
    tracker_timeout: float = 15.0,
    metadata_timeout: float = 120.0,
    dht: bool = False,
    dht_bootstrap: Sequence[str] = (),
    dht_state: Optional[Union[str, "os.PathLike[str]"]] = None,
    encryption: Literal["allow", "prefer", "require"] = "allow",
) -> dict[str, Any]:
    """Download ``source`` into ``directory`` and return the summary (the fields of
    ``airswarm torrent download --json``). ``on_progress`` gets a :class:`Progress`
    about twice a second. Resumable: verified pieces are kept when interrupted.
    ``dht=True`` or ``dht_bootstrap=["HOST:PORT", ...]`` also finds peers on the mainline
    DHT (a magnet link then needs no tracker); its routing table is kept in ``dht_state``
    (default ``~/.airswarm/dht.dat``). ``encryption`` is the peer-connection (MSE/PE)
    policy of ``--encryption``: ``"allow"``, ``"prefer"`` or ``"require"``. Raises :class:`airswarm.AirswarmError` if the
    download fails."""
    with Session(
        source,
        directory,
        port=port,
        interface=interface,
        peers=list(peers),
        max_peers=max_peers,
        max_rate=max_rate,
        tracker_timeout=tracker_timeout,
        metadata_timeout=metadata_timeout,
        dht=dht,
        dht_bootstrap=list(dht_bootstrap),
        dht_state=dht_state,
        encryption=encryption,
    ) as session:
        for p in session:
            if on_progress is not None:
                on_progress(p)
        summary = session.wait()
    assert summary is not None, "wait() without a timeout returns the summary"
    return summary
