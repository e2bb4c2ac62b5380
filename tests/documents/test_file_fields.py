"""`type: file` in the definitions language: `onestop validate` (the real command) points at each bad declaration
with file:line:col, and content sniffing decides a file's kind by its bytes, never by its name."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onestop.engine.documents import sniff

ONESTOP = Path(sys.executable).parent / "onestop"
LICENCE = "services/transport/renew-driving-licence.yaml"
ADDRESS = "services/housing/change-of-address.yaml"


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    (LICENCE, "accept: [pdf, jpeg, png]", "accept: [pdf, exe]", "'accept' cannot be 'exe'"),
    (LICENCE, "maxSize: 5MB", "maxSize: 80MB", "maxSize 80MB is above the largest allowed, 50MB"),
    (LICENCE, "maxSize: 5MB", "maxSize: 5 gigabytes", "maxSize"),
    (ADDRESS, "multiple: true", "multiple: false", "minItems/maxItems apply to a list of files"),
    (LICENCE, "retention: {deleteAfterDecisionDays: 90}", "retention: {deleteAfterDecisionDays: 0}",
     "deleteAfterDecisionDays"),
    (LICENCE, "        maxSize: 5MB\n", "        maxSize: 5MB\n        prefill: eme.nameEn\n",
     "a file field cannot be prefilled"),
])
def test_a_bad_file_field_is_reported_at_its_line_and_column(definitions_dir: Path, tmp_path: Path, file: str,
                                                             old: str, new: str, message: str) -> None:
    root = tmp_path / "definitions"
    shutil.copytree(definitions_dir, root)
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, "the seed file changed; update the test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = subprocess.run([str(ONESTOP), "validate", str(root)], capture_output=True, text=True,  # noqa: S603
                            check=False)
    assert result.returncode == 1, result.stdout
    found = re.search(rf"{re.escape(file)}:(\d+):(\d+): error\[(\w+)\]: (.*)", result.stdout)
    assert found, result.stdout
    assert message in found.group(4)
    line = int(found.group(1))
    lines = path.read_text(encoding="utf-8").splitlines()
    # The line is the bad key's, or (for a rule across keys) the field's first line within a few lines above.
    assert any(part in lines[line - 1] for part in (new.strip().split(":")[0], "- id:")), (line, lines[line - 1])


def test_a_file_field_cannot_sit_in_a_group(definitions_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "definitions"
    shutil.copytree(definitions_dir, root)
    path = root / ADDRESS
    text = path.read_text(encoding="utf-8")
    grouped = text.replace("      - id: proofOfAddress\n        type: file\n",
                           "      - id: proofs\n        type: group\n"
                           "        label: {en: Proofs, tc: 證明}\n        fields:\n"
                           "          - id: proofOfAddress\n            type: file\n"
                           "            label: {en: Proof, tc: 證明}\n            accept: [pdf]\n"
                           "            maxSize: 1MB\n      - id: unused\n        type: file\n", 1)
    path.write_text(grouped, encoding="utf-8")
    result = subprocess.run([str(ONESTOP), "validate", str(root)], capture_output=True, text=True,  # noqa: S603
                            check=False)
    assert "a group cannot hold a file field" in result.stdout, result.stdout


@pytest.mark.parametrize(("head", "kind"), [
    (b"%PDF-1.7\n", "pdf"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    (b"GIF89a\x01\x00", "gif"),
    (b"MZ\x90\x00\x03\x00", None),  # a Windows program, whatever it is called
    (b"<html><script>alert(1)</script>", None),
    (b"", None),
])
def test_the_kind_of_a_file_comes_from_its_content(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind
