"""BitTorrent metainfo (.torrent files): parse, create, verify downloaded pieces.

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
"""

from airswarm._native import Metainfo, TorrentError, TorrentFile

__all__ = ["Metainfo", "TorrentError", "TorrentFile"]
