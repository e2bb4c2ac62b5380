"""What a file is, by its content (magic bytes), never by its name or the type the client claims."""

from __future__ import annotations

import filetype

from onestop.catalogue import DOCUMENT_KINDS

SNIFF_BYTES = 8192
"""How much of the start of a file the sniffer reads: every kind we accept says what it is well before this."""

_KIND_OF_MEDIA_TYPE = {media_type: kind for kind, media_type in DOCUMENT_KINDS.items()}
_KIND_OF_MEDIA_TYPE["image/heif"] = "heic"


def sniff(head: bytes) -> str | None:
    """The document kind (``pdf``, ``jpeg``, ...) the content's magic bytes show; None for anything else."""
    guess = filetype.guess(head[:SNIFF_BYTES])
    if guess is None:
        return None
    return _KIND_OF_MEDIA_TYPE.get(guess.mime)


def media_type(kind: str) -> str:
    return DOCUMENT_KINDS.get(kind, "application/octet-stream")
