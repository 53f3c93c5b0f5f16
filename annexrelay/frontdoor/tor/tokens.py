"""
The tokens that let Tor clients in: issued by C{annexrelay address}, kept
hashed in the proxy repository's private state, checked by the onion front
door (pure apart from the file).

C{.git/annex/annexrelay/tokens} (mode 0600) has one line per token:
C{<id> <target uuid> <mode> <created, unix time> <sha256 of the token, hex>}.
The token itself is never stored: it is printed once, inside the address.
Tokens are 128 lowercase hex digits as git-annex makes them, and are
compared lower-cased, as git-annex does; the hash is compared in constant
time with every token of the target.
"""

import hashlib
import hmac
import os
from typing import List, NamedTuple, Optional

from annexrelay.paths import file_stamp, private_dir, write_private

TOKENS = "tokens"
MODES = ("read-write", "append-only", "read-only")


class TokenEntry(NamedTuple):
    id: str
    target: bytes
    mode: str
    created: int
    digest: str


def digest(token: str) -> str:
    return hashlib.sha256(token.lower().encode("ascii", "replace")).hexdigest()


def new_token() -> str:
    return os.urandom(64).hex()


def parse_tokens(text: str) -> List[TokenEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5 or parts[2] not in MODES:
            continue
        try:
            entries.append(TokenEntry(parts[0], parts[1].encode("ascii"), parts[2], int(parts[3]), parts[4]))
        except ValueError:
            continue
    return entries


def format_tokens(entries) -> str:
    return "".join(
        "%s %s %s %d %s\n" % (e.id, e.target.decode("ascii"), e.mode, e.created, e.digest) for e in entries
    )


def match(entries, target: bytes, token: str) -> Optional[TokenEntry]:
    """
    The entry of C{target} that C{token} is, or None.
    """
    if not token:
        return None
    want = digest(token)
    found = None
    for e in entries:
        if e.target == target and hmac.compare_digest(e.digest, want):
            found = e
    return found


class TokenStore:
    """
    The token file of one repository.  L{entries} reads it again only when
    it changed, so a revocation takes effect at the next C{AUTH}.
    """

    def __init__(self, gitDir):
        self.path = os.path.join(private_dir(gitDir), TOKENS)
        self._stamp = None
        self._entries = []

    def stamp(self):
        return file_stamp(self.path)

    def entries(self) -> List[TokenEntry]:
        stamp = self.stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                with open(self.path) as f:
                    self._entries = parse_tokens(f.read())
            except FileNotFoundError:
                self._entries = []
        return list(self._entries)

    def check(self, target: bytes, token: str) -> Optional[TokenEntry]:
        return match(self.entries(), target, token)

    def issue(self, target: bytes, mode: str, now: int) -> (TokenEntry, str):
        """
        A new token for C{target}: its entry (written) and the token.
        """
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % (", ".join(MODES),))
        token = new_token()
        entries = self.entries()
        taken = {e.id for e in entries}
        ident = os.urandom(4).hex()
        while ident in taken:
            ident = os.urandom(4).hex()
        entry = TokenEntry(ident, target, mode, int(now), digest(token))
        write_private(self.path, format_tokens(entries + [entry]))
        return entry, token

    def revoke(self, ident: str) -> Optional[TokenEntry]:
        """
        Remove the token with id C{ident}; the removed entry, or None.
        """
        entries = self.entries()
        gone = [e for e in entries if e.id == ident]
        if not gone:
            return None
        write_private(self.path, format_tokens([e for e in entries if e.id != ident]))
        return gone[0]
