"""What a provider uploads to its sandbox: a service YAML, or a zip of services, fragments and option lists.

Everything is checked in memory before a byte is written: the size, the archive's entries (no path leaving the
sandbox, no zip bomb) and each YAML file's shape (no anchors or aliases, so no billion laughs; bounded nesting and
length), so the catalogue loader only ever reads small, plain files inside the sandbox's own folder.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from onestop.catalogue.problems import Problem
from onestop.engine.errors import InvalidInput, field_error

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int = 128 * 1024
    max_unpacked_bytes: int = 1024 * 1024
    max_files: int = 100
    max_ratio: int = 50  # a zip entry that expands more than this is refused as a bomb
    max_yaml_events: int = 100_000
    max_yaml_depth: int = 40


def upload_refused(message: str, code: str) -> InvalidInput:
    return InvalidInput([field_error(["input", "content"], message, code)])


def _safe_path(name: str) -> str:
    """The tree path an upload entry goes to; refuses anything that could land outside the sandbox."""
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise upload_refused(f"{name!r}: absolute paths and backslashes are not allowed in an upload", "UNSAFE_ARCHIVE")
    parts = name.split("/")
    if any(part in ("..", ".") for part in parts) or posixpath.normpath(name) != name:
        raise upload_refused(
            f"{name!r}: paths with '..' or '.' are not allowed; use services/<theme>/<id>.yaml", "UNSAFE_ARCHIVE"
        )
    if not all(_NAME.fullmatch(part) for part in parts):
        raise upload_refused(
            f"{name!r}: use lower-case letters, digits, '.', '_' and '-' in file and folder names", "UNSAFE_ARCHIVE"
        )
    if not name.endswith((".yaml", ".yml")):
        raise upload_refused(
            f"{name!r} is not a .yaml file: an upload holds services, fragments/ and option-lists.yaml",
            "NOT_A_DEFINITION_FILE",
        )
    if name == "option-lists.yaml" or (parts[0] in ("services", "fragments") and len(parts) >= 2):
        if parts[0] == "fragments" and len(parts) != 2:
            raise upload_refused(f"{name!r}: fragments live directly in fragments/", "NOT_A_DEFINITION_FILE")
        return name
    if len(parts) == 1:
        return f"services/{name}"  # a lone service file
    raise upload_refused(
        f"{name!r}: an upload holds services/…, fragments/… and option-lists.yaml only", "NOT_A_DEFINITION_FILE"
    )


def unpack(filename: str, content: bytes, limits: UploadLimits) -> dict[str, bytes]:
    """The upload's files by tree path (``services/…``, ``fragments/…``, ``option-lists.yaml``)."""
    if len(content) > limits.max_upload_bytes:
        raise upload_refused(
            f"the upload is {len(content)} bytes; a sandbox accepts at most {limits.max_upload_bytes}",
            "UPLOAD_TOO_LARGE",
        )
    if not content:
        raise upload_refused("the upload is empty", "EMPTY_INPUT")
    if not content.startswith(_ZIP_MAGIC):
        name = posixpath.basename(filename.replace("\\", "/")) or "service.yaml"
        return {_safe_path(name): content}
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise upload_refused(
            "the upload starts like a zip but is not a readable zip archive", "UNSAFE_ARCHIVE"
        ) from None
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > limits.max_files:
            raise upload_refused(f"the zip holds {len(entries)} files; at most {limits.max_files}", "UPLOAD_TOO_LARGE")
        files: dict[str, bytes] = {}
        total = 0
        for info in entries:
            path = _safe_path(info.filename)
            if info.flag_bits & 0x1:
                raise upload_refused(f"{info.filename!r} is encrypted; upload plain files", "UNSAFE_ARCHIVE")
            if info.file_size > limits.max_ratio * max(info.compress_size, 1) + 1024:
                raise upload_refused(
                    f"{info.filename!r} expands {info.file_size} bytes from {info.compress_size}: refused "
                    "as a zip bomb",
                    "UNSAFE_ARCHIVE",
                )
            # The header can lie: read at most what is left of the budget, and one byte more to notice.
            with archive.open(info) as entry:
                data = entry.read(limits.max_unpacked_bytes - total + 1)
            total += len(data)
            if total > limits.max_unpacked_bytes:
                raise upload_refused(
                    f"the zip expands to more than {limits.max_unpacked_bytes} bytes", "UPLOAD_TOO_LARGE"
                )
            if path in files:
                raise upload_refused(f"{info.filename!r} appears twice in the zip", "UNSAFE_ARCHIVE")
            files[path] = data
    if not files:
        raise upload_refused("the zip holds no .yaml file", "NOT_A_DEFINITION_FILE")
    return files


def yaml_shape_problems(path: str, raw: bytes, limits: UploadLimits) -> list[Problem]:
    """Anchors, aliases, explicit tags, too deep or too long: refused before any loader expands anything.

    Reading the event stream is linear in the text, whatever the aliases would expand to."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return []  # the loader reports NOT_UTF8 with its place
    depth = events = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            events += 1
            mark = event.start_mark
            where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                return [
                    Problem(
                        path,
                        *where,
                        "YAML_ALIAS",
                        "anchors and aliases (&name, *name) are not accepted in sandbox uploads",
                        "write the value out, or share steps and fields with fragments/",
                    )
                ]
            tag = getattr(event, "tag", None)
            if isinstance(event, yaml.NodeEvent) and tag not in (None, "!"):
                return [
                    Problem(
                        path,
                        *where,
                        "YAML_TAG",
                        f"explicit YAML tags ({tag}) are not accepted",
                        "remove the tag; definitions use plain values",
                    )
                ]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limits.max_yaml_depth:
                    return [
                        Problem(
                            path,
                            *where,
                            "YAML_TOO_DEEP",
                            f"nested more than {limits.max_yaml_depth} levels deep",
                            "flatten the structure; no definition needs this depth",
                        )
                    ]
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if events > limits.max_yaml_events:
                return [
                    Problem(
                        path,
                        *where,
                        "YAML_TOO_LARGE",
                        f"more than {limits.max_yaml_events} YAML nodes",
                        "split the service, or share parts with fragments/",
                    )
                ]
    except yaml.YAMLError:
        return []  # a syntax error: the loader reports it at its line and column
    return []


def shape_problems(files: Mapping[str, bytes], limits: UploadLimits) -> list[Problem]:
    return [problem for path, raw in sorted(files.items()) for problem in yaml_shape_problems(path, raw, limits)]
