"""Strict bencode (BEP 3).

``decode`` accepts only canonical input (no leading zeros, sorted unique keys, nothing
after the value) and raises :class:`airswarm.DecodeError` with ``.offset`` set to the byte
where it went wrong. ``encode`` writes canonical bencode of int, bytes, str (UTF-8),
list/tuple and dict (bytes or str keys, sorted on output).
"""

from typing import Any, Union

from airswarm._native import DecodeError, bencode_decode, bencode_encode

__all__ = ["DecodeError", "decode", "encode"]

Bencodable = Union[int, bytes, str, "list[Any]", "tuple[Any, ...]", "dict[Any, Any]"]


def decode(data: bytes) -> Any:
    """Decode bencoded ``data`` into int, bytes, list and dict (with bytes keys)."""
    return bencode_decode(data)


def encode(value: Bencodable) -> bytes:
    """Canonical bencode of ``value``."""
    return bencode_encode(value)
