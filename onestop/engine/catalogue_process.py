"""A catalogue reload done in a child process, handed back as a file of pickles and read between requests.

Loading and validating a large tree is seconds of CPU. Done on the server's event loop, even in small steps, every
request arriving meanwhile waits for the step in progress. Here a child process, at a lower scheduling priority,
parses and validates and writes the result with ``catalogue.transfer``; the server reads it back a service at a time
between requests, which is a small fraction of the work. The server hands the child the content hashes of the services
it holds, so only changed services (and, when any changed, the child's search index) come back.

The file is made with ``mkstemp`` (mode 0600) and read only by the process that started the child: the pickles come
from our own code, never from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import onestop
from onestop.catalogue.transfer import KNOWN_FLAG

# The child runs below the server's priority: on a busy machine requests come first, the reload after (a reload
# that takes longer harms no one; the previous catalogue is served meanwhile).
CHILD_NICENESS = 10
# The child imports onestop from where this process did.
_PACKAGE_PARENT = str(Path(onestop.__file__).resolve().parent.parent)


class ChildFailed(RuntimeError):
    """The child process stopped without a result (killed, out of memory, a bug): not a problem of the tree."""


async def load_in_child(root: Path, known: bytes | None = None) -> Path:
    """Run the load in a child process; the path of the file it wrote (the caller reads, then deletes it).

    ``known`` (``slug hash`` lines, see ``transfer.read_known``): the services this process holds; the child
    writes those unchanged as their slugs, and the search index when anything changed."""
    descriptor, name = tempfile.mkstemp(prefix="onestop-catalogue-", suffix=".pickle")
    os.close(descriptor)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))}
    child: asyncio.subprocess.Process | None = None
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "onestop.catalogue.transfer",
            str(root),
            name,
            str(CHILD_NICENESS),
            *([KNOWN_FLAG] if known is not None else []),
            stdin=asyncio.subprocess.PIPE if known is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _, errors = await child.communicate(known)
    except BaseException:  # cancelled (a shutdown): the child goes too
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        discard(name)
        raise
    if child.returncode != 0:
        discard(name)
        detail = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise ChildFailed(f"the catalogue child process exited with {child.returncode}: {detail[0]}")
    return Path(name)


def discard(name: str | Path) -> None:
    """Remove the child's file (a small local unlink: fine on the event loop)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)
