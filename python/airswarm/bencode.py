"""Strict bencode (BEP 3).

``decode`` accepts only canonical input (no leading zeros, sorted unique keys, nothing
after the value) and raises :class:`airswarm.DecodeError` with ``.offset`` set to the byte
where it went wrong. ``encode`` writes canonical bencode of int, bytes, str (UTF-8),
list/tuple and dict (bytes or str keys, sorted on output); what it cannot encode (another
type, an int beyond 64 bits, nesting deeper than ``decode`` reads, two keys that encode
alike) raises :class:`airswarm.EncodeError`. Both directions share one nesting limit (64),
so whatever ``encode`` writes, ``decode`` reads.
"""

from typing import Any, Union

from airswarm._native import DecodeError, EncodeError, bencode_decode, bencode_encode

__all__ = ["DecodeError", "EncodeError", "decode", "encode"]

Bencodable = Union[int, bytes, str, "list[Any]", "tuple[Any, ...]", "dict[Any, Any]"]


# The native functions themselves, not Python wrappers around them: a wrapper's extra
# call costs more than decoding a 100-byte tracker reply.
decode = bencode_decode
"""Decode bencoded ``data`` into int, bytes, list and dict (with bytes keys)."""

encode = bencode_encode
"""Canonical bencode of ``value`` (int, bytes, str, list, tuple, dict)."""
