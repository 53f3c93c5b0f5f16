"""
git-annex's journal (C{.git/annex/journal/}), as git-annex commits it.

git-annex writes a change to a branch file into the journal first, one
file per branch file holding its whole new content, and commits the
journal later, every file in it at once: when the process exits, for
git-annex-shell.  annexrelay keeps git-annex-shell processes alive in its
pool (a proxied special remote is served by git-annex's own proxy in one),
so it commits the journal itself, the way git-annex's own commit does
(C{Annex.Branch.stageJournal} then C{commitIndex}):

 - every regular file in the journal directory is taken (the private
   journal, C{journal-private/}, never reaches the branch and is left
   alone); its name maps back to the branch path (L{branch_path});
 - an interrupted append can leave a last line without its newline;
   git-annex's readers drop it (C{discardIncompleteAppend}), so does
   L{read};
 - when git-annex's own index was last synchronised with the branch tip
   being committed on (C{.git/annex/index.lck} names that tip), the
   journal content replaces the branch file;  otherwise the branch moved
   since (annexrelay's own commits, a client's push), and git-annex
   union-merges the branch into its index before committing: the lines of
   both, sorted and made unique, or either file unchanged if it already
   is that union (C{Git.UnionMerge.calcMerge}) -- L{merged};
 - the journal files are removed only once the commit is on the branch,
   with the journal lock held throughout, so no git-annex process can
   change one in between.

Pure functions and plain file reads; the writer runs them under git-annex's
journal lock.
"""

import os
import stat
from typing import List, NamedTuple, Optional, Tuple

# At most this many journal files go into one commit; the rest wait for the
# next one (the writer schedules it), so a huge journal does not hold the
# reactor or the journal lock for long.
BATCH = 5000


class JournalFile(NamedTuple):
    name: bytes  # the file name in the journal directory
    path: bytes  # the branch path it stands for
    content: bytes


def branch_path(name: bytes) -> bytes:
    """
    The branch path a journal file name stands for (the inverse of
    L{annexrelay.branch.locationlog.journal_name}: C{__} is C{_}, a single
    C{_} is C{/}), as git-annex's C{fileJournal}.
    """
    out = bytearray()
    i = 0
    while i < len(name):
        c = name[i : i + 1]
        if c == b"_":
            if name[i + 1 : i + 2] == b"_":
                out += b"_"
                i += 1
            else:
                out += b"/"
        else:
            out += c
        i += 1
    return bytes(out)


def discard_incomplete(content: bytes) -> bytes:
    """
    C{content} without a last line that lacks its newline.
    """
    if not content or content.endswith(b"\n"):
        return content
    nl = content.rfind(b"\n")
    return content[: nl + 1] if nl >= 0 else b""


def committable(path: bytes) -> bool:
    """
    Whether C{path} can be named in C{git fast-import}'s C{M} command
    unquoted (git-annex never makes other names; one that is leaves the
    journal as git-annex's own commit finds it).
    """
    return bool(path) and not path.startswith((b'"', b"/")) and not any(c < 0x20 or c == 0x7F for c in path)


def read(directory: bytes, limit: Optional[int] = None) -> Tuple[List[JournalFile], bool]:
    """
    The journal's files, at most C{limit} (default L{BATCH}), in name
    order.  Call with the journal lock held.

    @return: C{(files, more)}: C{more} when files were left for later.
    """
    if limit is None:
        limit = BATCH
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return [], False
    files = []
    more = False
    for name in names:
        path = branch_path(name)
        if not committable(path):
            continue
        if len(files) >= limit:
            more = True
            break
        full = os.path.join(directory, name)
        try:
            if not stat.S_ISREG(os.lstat(full).st_mode):
                continue
            with open(full, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            continue
        files.append(JournalFile(name, path, discard_incomplete(content)))
    return files, more


def dirty(directory: bytes) -> bool:
    """
    Whether the journal holds anything (without the lock: a hint).
    """
    try:
        with os.scandir(directory) as it:
            return any(True for _ in it)
    except (FileNotFoundError, NotADirectoryError):
        return False


def merged(journaled: bytes, committed: Optional[bytes], indexInSync: bool) -> bytes:
    """
    What git-annex's commit of the journal makes of a branch file: the
    journal's content C{journaled} when git-annex's index is in step with
    the branch (C{indexInSync}) or the file is not on the branch
    (C{committed} is None); else the union of both files' lines.
    """
    if indexInSync or committed is None:
        return journaled
    union = sorted(set(_lines(journaled)) | set(_lines(committed)))
    for original in (journaled, committed):
        if sorted(set(_lines(original))) == union:
            return original
    return b"".join(line + b"\n" for line in union)


def _lines(content: bytes) -> List[bytes]:
    # Haskell's lines: split at each newline; a last newline ends the last
    # line rather than starting an empty one.
    parts = content.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return parts


def index_tip(gitDir: str) -> Optional[bytes]:
    """
    The branch commit git-annex's index was last brought in step with
    (C{.git/annex/index.lck}), or None.
    """
    try:
        with open(os.path.join(gitDir, "annex", "index.lck"), "rb") as f:
            first = f.read(200).split(b"\n", 1)[0].strip()
    except OSError:
        return None
    return first or None


def remove(directory: bytes, files: List[JournalFile]):
    """
    Remove committed journal files.  Call with the journal lock held, after
    the commit is on the branch.
    """
    for jf in files:
        try:
            os.remove(os.path.join(directory, jf.name))
        except FileNotFoundError:
            pass
