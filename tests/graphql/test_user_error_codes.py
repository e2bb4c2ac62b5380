"""Every code the engine, the workflow or a resolver can put in ``userErrors`` is a value of ``UserErrorCode``."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from onestop.graphql.errors import UserErrorCode

PACKAGE = Path(__file__).resolve().parents[2] / "onestop"

# Where each constructor of a field error or user error takes its code: (position, keyword, default).
CODE_ARGUMENT: dict[str, tuple[int, str | None]] = {
    "FieldError": (1, None),  # the workflow's FieldError(path, code, message)
    "_error": (1, None),  # the workflow's _error(path, code, en, tc)
    "refuse": (0, None),  # the interpreter's field checks: at.refuse(code, en, tc)
    "_formatted": (2, None),  # the interpreter's formatted-text checkers: _formatted(valid, normal, code, en, tc)
    "field_error": (2, "INVALID_VALUE"),  # the engine's field_error(path, message, code="INVALID_VALUE")
    "user_error": (1, None),
    "upload_refused": (1, None),  # the sandbox uploads' upload_refused(message, code)
    "UserError": (-1, None),  # keyword only
}


def _codes_in(path: Path) -> set[str]:
    codes: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name not in CODE_ARGUMENT:
            continue
        position, default = CODE_ARGUMENT[name]
        argument = next((k.value for k in node.keywords if k.arg == "code"), None)
        if argument is None and 0 <= position < len(node.args):
            argument = node.args[position]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            codes.add(argument.value)
        elif isinstance(argument, ast.Attribute) and isinstance(argument.value, ast.Name) \
                and argument.value.id == "UserErrorCode":
            codes.add(argument.attr)
        elif argument is None and default is not None:
            codes.add(default)
    return codes


@cache
def produced_codes() -> frozenset[str]:
    return frozenset().union(*(_codes_in(path) for path in PACKAGE.rglob("*.py")))


def test_the_scan_finds_codes_of_every_layer() -> None:
    codes = produced_codes()
    # One known code per source, so a scan that silently stops matching fails here rather than passing empty.
    assert {"INVALID_HKID", "NOT_CURRENT_STEP", "APPROVER_REQUIRED", "INVALID_VALUE", "EMPTY_INPUT"} <= codes


@pytest.mark.parametrize("code", sorted(produced_codes()))
def test_every_produced_code_is_in_the_enum(code: str) -> None:
    assert code in UserErrorCode.__members__, f"add {code} (with a description) to UserErrorCode"


@pytest.mark.parametrize("code", list(UserErrorCode.__members__))
def test_every_enum_value_is_produced_somewhere(code: str) -> None:
    assert code in produced_codes(), f"nothing produces {code}; remove it from UserErrorCode"


def test_every_enum_value_is_described_in_the_schema() -> None:
    sdl = (PACKAGE.parent / "schema.graphql").read_text(encoding="utf-8")
    body = sdl[sdl.index("enum UserErrorCode {"):]
    body = body[:body.index("}")]
    lines = [line.strip() for line in body.splitlines()[1:] if line.strip()]
    for index, line in enumerate(lines):
        if line in UserErrorCode.__members__:
            assert lines[index - 1].endswith('"""'), f"{line} has no description"
