"""BitTorrent metainfo (.torrent files): parse, create, verify downloaded pieces.

``Metainfo.from_file(path)`` / ``Metainfo.from_bytes(data)`` parse (malformed files raise
:class:`airswarm.TorrentError`, a :class:`airswarm.DecodeError`); ``Metainfo.create(path,
trackers=[...])`` hashes a file or directory; ``meta.verify(download_dir)`` returns one
bool per piece.
"""

from airswarm._native import Metainfo, TorrentError, TorrentFile

__all__ = ["Metainfo", "TorrentError", "TorrentFile"]
