"""A small, valid definitions tree in tmp_path, and helpers to break it on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.catalogue import Catalogue, CatalogueError, Problem, load_catalogue

TAXONOMY = """\
themes:
  - id: transport
    name: {en: Transport, tc: 交通}
  - id: health
    name: {en: Health, tc: 醫療}
ageGroups:
  - id: youth
    name: {en: Youth, tc: 青年}
    minAge: 0
    maxAge: 24
  - id: adult
    name: {en: Adult, tc: 成人}
    minAge: 25
    maxAge: 64
  - id: elderly
    name: {en: Elderly, tc: 長者}
    minAge: 65
assuranceLevels:
  - {id: basic, acr: "urn:onestop:acr:basic", name: {en: Basic, tc: 基本}}
  - {id: standard, acr: "urn:onestop:acr:standard", name: {en: Standard, tc: 標準}}
  - {id: face, acr: "urn:onestop:acr:face", name: {en: Face, tc: 面容}}
"""

OPTION_LISTS = """\
districts:
  - {value: eastern, label: {en: Eastern, tc: 東區}}
  - {value: wan-chai, label: {en: Wan Chai, tc: 灣仔}}
"""

DEPARTMENT = """\
code: TD
name: {en: Transport Department, tc: 運輸署}
providers:
  - id: td-licensing
    name: {en: Licensing, tc: 牌照}
    source: {kind: sql}
    items:
      - id: driving-licence
        type: object
        description: {en: Your licence, tc: 你的執照}
"""

# Line numbers in this text are asserted by the tests: edit with care.
SERVICE = """\
id: renew-licence
version: 1
department: TD
title: {en: Renew a licence, tc: 續領執照}
summary: {en: Renew it, tc: 續領}
themes: [transport]
ageGroups: [adult]
assurance: standard
eligibility:
  when: citizen.age >= 18
  message: {en: Adults only, tc: 只限成人}
steps:
  - id: prefill
    type: prefill
    title: {en: Your details, tc: 你的資料}
    purpose: {en: To fill the form, tc: 填表}
    items: [td-licensing.driving-licence]
  - id: details
    type: form
    title: {en: Details, tc: 資料}
    fields:
      - id: licenceNumber
        type: text
        label: {en: Licence number, tc: 執照號碼}
        prefill: td-licensing.driving-licence.number
        required: true
      - id: district
        type: choice
        label: {en: District, tc: 地區}
        optionList: districts
      - id: years
        type: number
        label: {en: Years, tc: 年期}
        integer: true
        when: answers.district == "eastern"
        rules:
          - check: value >= 1 && value <= 10
            message: {en: 1 to 10, tc: 一至十}
  - id: submit
    type: submit
    title: {en: Submit, tc: 遞交}
"""

SERVICE_PATH = "services/transport/renew-licence.yaml"


class Tree:
    """A definitions tree under construction."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.write("taxonomy.yaml", TAXONOMY)
        self.write("option-lists.yaml", OPTION_LISTS)
        self.write("departments/td.yaml", DEPARTMENT)
        self.write(SERVICE_PATH, SERVICE)

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def edit_service(self, old: str, new: str) -> None:
        self.edit(SERVICE_PATH, old, new)

    def load(self) -> Catalogue:
        return load_catalogue(self.root)

    def problems(self) -> list[Problem]:
        with pytest.raises(CatalogueError) as info:
            load_catalogue(self.root)
        return list(info.value.problems)

    def where(self, relative: str) -> str:
        return str(self.root / relative)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "definitions")


def codes_at(problems: list[Problem]) -> set[tuple[str, int, int, str]]:
    """(file name, line, column, code) of each problem: what the tests compare."""
    return {(Path(p.path).name, p.line, p.col, p.code) for p in problems}
