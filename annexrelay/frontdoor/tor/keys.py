"""
Onion service keys: one v3 onion service per target the relay serves over
Tor, its key kept in the proxy repository's private state so the address
survives restarts (pure apart from the file it reads and writes).

Why one onion per target: a git-annex client stores the token of a
C{tor-annex::ONION:PORT} remote under the onion host name alone
(C{.git/annex/creds/<onion>}) and never sends C{--uuid}.  Two targets on one
onion would share that one token file, and the client could not tell the
relay which one it means; an onion of its own per target makes the address
alone pick the target, and the client may link any number of them.

The key file, C{.git/annex/annexrelay/onions} (mode 0600), has one line per
target: C{<target uuid> <onion host> <virtual port> <seed, hex>}.  The seed
is the 32-byte Ed25519 secret; Tor is given its expanded form
(C{ED25519-V3:...} in C{ADD_ONION}).
"""

import base64
import hashlib
import os
from typing import Dict, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from annexrelay.paths import file_stamp, private_dir, write_private

ONIONS = "onions"
DEFAULT_PORT = 5555


class OnionKey(NamedTuple):
    """
    @ivar target: the target's UUID (bytes).
    @ivar onion: the onion host name, C{...xyz.onion}.
    @ivar port: the onion service's virtual port.
    @ivar seed: the Ed25519 secret (32 bytes).
    """

    target: bytes
    onion: str
    port: int
    seed: bytes

    def torKey(self) -> str:
        """
        The key as C{ADD_ONION} takes it.
        """
        return "ED25519-V3:" + base64.b64encode(expanded_secret(self.seed)).decode("ascii")

    def address(self) -> str:
        return "tor-annex::%s:%d" % (self.onion, self.port)


def expanded_secret(seed: bytes) -> bytes:
    """
    Tor's 64-byte expanded Ed25519 secret key for C{seed}.
    """
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def onion_host(seed: bytes) -> str:
    """
    The v3 onion host name of the service keyed by C{seed} (rend-spec-v3:
    base32 of public key, two checksum bytes and the version byte 3).
    """
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    checksum = hashlib.sha3_256(b".onion checksum" + public + b"\x03").digest()[:2]
    return base64.b32encode(public + checksum + b"\x03").decode("ascii").lower() + ".onion"


def new_key(target: bytes, port: int = DEFAULT_PORT, seed: bytes = None) -> OnionKey:
    seed = seed if seed is not None else os.urandom(32)
    return OnionKey(target, onion_host(seed), port, seed)


def parse_keys(text: str) -> Dict[bytes, OnionKey]:
    """
    The key file's lines, by target UUID.  Lines that do not parse are
    skipped.
    """
    keys = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        target, onion, port, seed = parts
        try:
            key = OnionKey(target.encode("ascii"), onion, int(port), bytes.fromhex(seed))
        except ValueError:
            continue
        if len(key.seed) == 32:
            keys[key.target] = key
    return keys


def format_keys(keys) -> str:
    return "".join(
        "%s %s %d %s\n" % (k.target.decode("ascii"), k.onion, k.port, k.seed.hex())
        for k in sorted(keys, key=lambda k: k.target)
    )


class OnionKeys:
    """
    The onion keys of one repository (C{.git/annex/annexrelay/onions}).
    """

    def __init__(self, gitDir):
        self.path = os.path.join(private_dir(gitDir), ONIONS)

    def load(self) -> Dict[bytes, OnionKey]:
        try:
            with open(self.path) as f:
                return parse_keys(f.read())
        except FileNotFoundError:
            return {}

    def stamp(self):
        return file_stamp(self.path)

    def forTarget(self, target: bytes, port: int = DEFAULT_PORT) -> OnionKey:
        """
        The key of C{target}'s onion service, made the first time.
        """
        keys = self.load()
        key = keys.get(target)
        if key is None:
            key = keys[target] = new_key(target, port)
            write_private(self.path, format_keys(keys.values()))
        return key
