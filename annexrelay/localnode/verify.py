"""
How a received object is checked against its key, as git-annex's backends
check it (C{Backend.Hash}, C{Annex.Verify}); pure functions.

 - a hashing key (C{SHA256E-s1048576--<hex>.txt}) names the digest of the
   content: the key's name, less the extension of an C{E} variety, must
   equal the lower-case hex digest;
 - C{WORM} and C{URL} keys cannot be checked beyond the size they record;
 - every key's C{-s} field, if it has one, must be the content's size.

The varieties Python's C{hashlib} cannot compute the way git-annex does
(C{SKEIN*}, C{BLAKE2BP*}, C{BLAKE2SP*}, C{VURL}, git-remote-annex's
C{GITBUNDLE}/C{GITMANIFEST}, external backends) are L{unsupported}: such a
key is stored by the node's own git-annex-shell.
"""

import hashlib
from typing import Callable, NamedTuple, Optional

from annexrelay.branch.locationlog import key_size


def _blake2(kind, bits):
    return lambda: getattr(hashlib, kind)(digest_size=bits // 8)


_HASHES = {
    b"MD5": hashlib.md5,
    b"SHA1": hashlib.sha1,
    b"SHA224": hashlib.sha224,
    b"SHA256": hashlib.sha256,
    b"SHA384": hashlib.sha384,
    b"SHA512": hashlib.sha512,
    b"SHA3_224": hashlib.sha3_224,
    b"SHA3_256": hashlib.sha3_256,
    b"SHA3_384": hashlib.sha3_384,
    b"SHA3_512": hashlib.sha3_512,
}
for _bits in (160, 224, 256, 384, 512):
    _HASHES[b"BLAKE2B%d" % _bits] = _blake2("blake2b", _bits)
for _bits in (160, 224, 256):
    _HASHES[b"BLAKE2S%d" % _bits] = _blake2("blake2s", _bits)

_SIZE_ONLY = (b"WORM", b"URL")


class Check(NamedTuple):
    """
    How one key's content is checked.

    @ivar hasher: makes the digest to compute, or None (size only).
    @ivar digest: the lower-case hex digest the content must have.
    @ivar size: the size the key records, or None.
    """

    hasher: Optional[Callable]
    digest: bytes
    size: Optional[int]


def variety(key: bytes) -> bytes:
    return key.split(b"-", 1)[0]


def check_for(key: bytes) -> Optional[Check]:
    """
    How C{key}'s content is checked, or None when annexrelay cannot check
    it as git-annex would (L{unsupported}).
    """
    kind = variety(key)
    fields, sep, name = key.partition(b"--")
    if not sep or not name:
        return None
    size = key_size(key)
    if kind in _SIZE_ONLY:
        return Check(None, b"", size)
    extension = kind.endswith(b"E")
    base = kind[:-1] if extension else kind
    hasher = _HASHES.get(base)
    if hasher is None:
        return None
    digest = name.split(b".", 1)[0] if extension else name
    return Check(hasher, digest, size)


def unsupported(key: bytes) -> bool:
    return check_for(key) is None


def matches(check: Check, size: int, digest: Optional[bytes]) -> bool:
    """
    Whether content of C{size} bytes with hex digest C{digest} (None when
    the check has no hasher) is C{check}'s key's content.
    """
    if check.size is not None and size != check.size:
        return False
    if check.hasher is None:
        return True
    return digest == check.digest
