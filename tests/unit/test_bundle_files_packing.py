"""How the ledger stores a bundle's files: compactly, read back byte for byte, and never silently cut short."""

from __future__ import annotations

import pytest

from service.engine.files import digest_of
from service.storage.ledger import pack_bundle_files, unpack_bundle_files

FILES = {
    "bundle.yaml": b'version: "2026.11-1"\n',
    "lists/b.txt": b"\x00 a NUL, \xff not UTF-8, \r\n kept as they are",
    "lists/a.txt": b"",
    "fraud.yaml": "\ufeffrules: []  # \u2265\n".encode(),
}


def test_packed_files_read_back_byte_for_byte_with_their_digest() -> None:
    unpacked = unpack_bundle_files(pack_bundle_files(FILES))

    assert unpacked == FILES
    assert digest_of(unpacked) == digest_of(FILES)


def test_packed_lists_take_a_fraction_of_their_size() -> None:
    lists = {"lists/mules.txt": b"".join(b"CP-MULE-%08d\n" % i for i in range(200_000))}

    assert len(pack_bundle_files(lists)) * 4 < len(lists["lists/mules.txt"])


@pytest.mark.parametrize("damage", [lambda packed: packed[:-5], lambda packed: packed[:2] + b"x" + packed[3:],
                                    lambda packed: b"not compressed"])
def test_damaged_packed_files_are_refused_not_read_as_fewer_files(damage: object) -> None:
    with pytest.raises(ValueError):
        unpack_bundle_files(damage(pack_bundle_files(FILES)))  # type: ignore[operator]


def test_a_name_that_is_not_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="not a path inside a bundle"):
        pack_bundle_files({"lists/a\0b.txt": b""})
