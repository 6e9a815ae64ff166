"""The binary tensor data extension of the Open Inference Protocol (Triton's), both ways.

``tritonclient`` sends tensors this way by default: the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw tensors, each input saying how
many of those bytes are its own (``"parameters": {"binary_data_size": n}``, in input order).
Outputs come back the same way when asked (``"parameters": {"binary_data": true}`` on an
output, or ``"binary_data_output": true`` on the request)::

    json_part, raw = split_body(body, request.headers["inference-header-content-length"])
    flat = decode(raw[:n], "FP64", "input-0")        # a 1-D array, reshaped by the caller
    blob = encode(np.array([0, 1]))                  # little-endian bytes

Numbers are little-endian; ``BOOL`` is one byte per value; ``BYTES`` is each element as a
4-byte little-endian length followed by its bytes (decoded as UTF-8 here).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from conveyor.serving.errors import RequestError

if TYPE_CHECKING:
    from conveyor.flavors.base import Array

HEADER = "inference-header-content-length"
_DTYPES = {
    "BOOL": "|b1",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def split_body(body: bytes, header_length: str) -> tuple[bytes, bytes]:
    """The JSON header and the binary data of a request, cut where the header says."""
    text = header_length.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise RequestError(
            400,
            f"{HEADER} must be the length of the JSON part of the body (at most {len(body)} "
            f"bytes), got {header_length!r}",
            field=HEADER,
        )
    length = int(text)
    return body[:length], body[length:]


class Cursor:
    """Hands out the binary data of the inputs, in order; checks it is all used."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, size: object, name: str) -> bytes:
        """The next ``size`` bytes, for input ``name``."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(
                400, f"input {name!r}: binary_data_size must be a whole number", field=name
            )
        if self.offset + size > len(self.data):
            raise RequestError(
                400,
                f"input {name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(self.data) - self.offset} bytes left)",
                field=name,
            )
        chunk = bytes(self.data[self.offset : self.offset + size])
        self.offset += size
        return chunk

    def finish(self) -> None:
        """400 if binary data is left that no input claimed."""
        left = len(self.data) - self.offset
        if left:
            raise RequestError(
                400,
                f"{left} bytes of binary data after the last input's binary_data_size",
                field=HEADER,
            )


def decode(raw: bytes, datatype: str, name: str) -> Array:
    """One input's binary data as a flat array of its datatype."""
    import numpy as np

    if datatype == "BYTES":
        return np.asarray(_strings(raw, name), dtype=object)
    dtype = np.dtype(_DTYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise RequestError(
            422,
            f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype} values "
            f"({dtype.itemsize} bytes each)",
            field=name,
        )
    values = np.frombuffer(raw, dtype=dtype)
    return values.astype(dtype.newbyteorder("="))  # a native, writable copy


def encode(array: Array) -> bytes:
    """An output's values as binary data (row-major, little-endian; strings length-prefixed)."""
    import numpy as np

    flat = np.asarray(array).reshape(-1)
    if flat.dtype.kind in "OUS":
        parts = []
        for value in flat.tolist():
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    if flat.dtype.kind == "b":
        return flat.astype("|u1").tobytes()
    return flat.astype(flat.dtype.newbyteorder("<")).tobytes()


def _strings(raw: bytes, name: str) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RequestError(422, f"input {name!r}: a BYTES length is cut short", field=name)
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise RequestError(422, f"input {name!r}: a BYTES value is cut short", field=name)
        try:
            values.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise RequestError(
                422, f"input {name!r}: BYTES values must be UTF-8 text", field=name
            ) from exc
        offset += size
    return values
