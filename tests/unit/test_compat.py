# compat.py gives both interpreters the same ticks arithmetic and helpers.
from doorsip import compat


def test_ticks_diff_and_add_wrap():
    t = compat.ticks_ms()
    later = compat.ticks_add(t, 1000)
    assert compat.ticks_diff(later, t) == 1000
    assert compat.ticks_diff(t, later) == -1000


def test_hash_hex_md5_and_sha256():
    assert compat.hash_hex("md5", b"abc") == "900150983cd24fb0d6963f7d28e17f72"
    assert compat.hash_hex("sha256", b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_random_bytes_length_and_variety():
    a = compat.random_bytes(16)
    b = compat.random_bytes(16)
    assert len(a) == 16 and a != b
