"""GraphQL test helpers: a small definitions tree, an HTTP client bound to the app, dev IdP logins.

A module with its own name (not conftest) so test folders never import each other's conftest by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from client import Api, codes_of, errors_of, login

from onestop.config import Environment, Settings
from onestop.engine.container import Engine
from onestop.graphql.app import create_app
from onestop.graphql.security import Limits

TAXONOMY = """\
themes:
  - id: transport
    name: {en: Transport, tc: 交通, sc: 交通}
  - id: health
    name: {en: Health, tc: 醫療衞生, sc: 医疗卫生}
  - id: housing
    name: {en: Housing, tc: 房屋, sc: 房屋}
ageGroups:
  - id: youth
    name: {en: Youth, tc: 青年, sc: 青年}
    minAge: 0
    maxAge: 24
  - id: adult
    name: {en: Adults, tc: 成人, sc: 成人}
    minAge: 25
    maxAge: 64
  - id: elderly
    name: {en: Elderly, tc: 長者, sc: 长者}
    minAge: 65
assuranceLevels:
  - id: basic
    acr: urn:onestop:acr:basic
    name: {en: Basic, tc: 基本, sc: 基本}
  - id: standard
    acr: urn:onestop:acr:standard
    name: {en: Standard, tc: 標準, sc: 标准}
  - id: face
    acr: urn:onestop:acr:face
    name: {en: Face verification, tc: 人臉核實, sc: 人脸核实}
"""


OPTION_LISTS = """\
districts:
  - value: wan-chai
    label: {en: Wan Chai, tc: 灣仔, sc: 湾仔}
  - value: sha-tin
    label: {en: Sha Tin, tc: 沙田, sc: 沙田}
"""


DEPARTMENTS = {
    "td": """\
code: TD
name: {en: Transport Department, tc: 運輸署, sc: 运输署}
contact: {phone: "+852 2804 2600", email: tdenquiry@td.gov.hk, website: https://www.td.gov.hk}
submission:
  inbox: true
providers:
  - id: td-licensing
    name: {en: Driving licence register, tc: 駕駛執照登記冊}
    source: {kind: sql}
    items:
      - id: driving-licence
        type: object
        description: {en: Your driving licence, tc: 你的駕駛執照}
        sensitivity: personal
""",
    "dh": """\
code: DH
name: {en: Department of Health, tc: 衞生署, sc: 卫生署}
contact: {phone: "+852 2961 8989", email: enquiries@dh.gov.hk}
submission:
  inbox: true
providers: []
""",
    "dpo": """\
code: DPO
name: {en: Digital Policy Office, tc: 數字政策辦公室, sc: 数字政策办公室}
contact: {email: enquiry@dpo.gov.hk}
submission:
  inbox: true
providers:
  - id: eme
    name: {en: e-ME profile, tc: 智方便個人資料}
    source: {kind: sql}
    items:
      - {id: nameEn, type: text, description: {en: Name in English, tc: 英文姓名}, sensitivity: personal}
      - {id: nameZh, type: text, description: {en: Name in Chinese, tc: 中文姓名}, sensitivity: personal}
      - {id: dateOfBirth, type: date, description: {en: Date of birth, tc: 出生日期}, sensitivity: personal}
      - {id: hkid, type: text, description: {en: HKID number, tc: 身份證號碼}, sensitivity: sensitive}
      - {id: gender, type: text, description: {en: Gender, tc: 性別}, sensitivity: personal}
      - {id: phone, type: text, description: {en: Phone, tc: 電話}, sensitivity: personal}
      - {id: email, type: text, description: {en: Email, tc: 電郵}, sensitivity: personal}
      - {id: residentialAddress, type: address, description: {en: Home address, tc: 住址}, sensitivity: personal}
      - {id: correspondenceAddress, type: address, description: {en: Postal address, tc: 通訊地址},
         sensitivity: personal}
""",
}


def service(slug: str, *, department: str, title_en: str, title_tc: str, themes: str, ages: str,
            keywords_en: str = "[]", keywords_tc: str = "[]", version: int = 1, login: str = "required",
            assurance: str = "basic", extra_steps: str = "") -> str:
    return f"""\
id: {slug}
version: {version}
department: {department}
title: {{en: {title_en}, tc: {title_tc}}}
summary: {{en: {title_en} online., tc: 網上{title_tc}。}}
keywords: {{en: {keywords_en}, tc: {keywords_tc}}}
themes: {themes}
ageGroups: {ages}
login: {login}
assurance: {assurance}
draftExpiry: P30D
eligibility:
  when: citizen.age >= 18
  message: {{en: You must be 18 or over., tc: 申請人必須年滿18歲。}}
steps:
  - id: details
    type: form
    title: {{en: Your details, tc: 你的資料}}
    fields:
      - id: fullName
        type: text
        label: {{en: Full name, tc: 全名}}
        required: true
{extra_steps}  - id: send
    type: submit
    title: {{en: Submit, tc: 遞交}}
"""


SERVICES = {
    "transport/renew-driving-licence.yaml": service(
        "renew-driving-licence", department="TD", title_en="Renew a full driving licence",
        title_tc="續領正式駕駛執照", themes="[transport]", ages="[adult, elderly]",
        keywords_en="[driving, licence, renewal]", keywords_tc="[駕駛執照, 續牌]", assurance="standard",
        extra_steps="""\
  - id: verify
    type: stepUp
    title: {en: Confirm it is you, tc: 核實身份}
    assurance: face
    maxAge: PT5M
"""),
    "transport/vehicle-licence.yaml": service(
        "renew-vehicle-licence", department="TD", title_en="Renew a vehicle licence",
        title_tc="續領車輛牌照", themes="[transport]", ages="[adult, elderly]",
        keywords_en="[car, vehicle]", keywords_tc="[車輛牌照]"),
    "health/elderly-vaccination.yaml": service(
        "elderly-vaccination", department="DH", title_en="Book a vaccination for seniors",
        title_tc="預約長者疫苗接種", themes="[health]", ages="[elderly]", login="none",
        keywords_en="[vaccine, flu]", keywords_tc="[疫苗, 長者]"),
    "health/youth-health.yaml": service(
        "youth-health-check", department="DH", title_en="Student health check",
        title_tc="學生健康檢查", themes="[health]", ages="[youth]",
        keywords_en="[student, health]", keywords_tc="[學生, 健康]"),
}


EVERY_FIELD_SERVICE = """\
id: every-field
version: 1
department: DH
title: {en: Every field type, tc: 所有欄位類型}
summary: {en: One form with one field of each type., tc: 每種欄位各一。}
keywords: {en: [], tc: []}
themes: [health]
ageGroups: [adult]
login: none
draftExpiry: P1D
steps:
  - id: form
    type: form
    title: {en: Everything, tc: 全部}
    fields:
      - {id: text, type: text, label: {en: Text, tc: 文字}, required: true, maxLength: 50}
      - {id: number, type: number, label: {en: Number, tc: 數字}, min: 0, max: 100, integer: true}
      - {id: date, type: date, label: {en: Date, tc: 日期}, after: -P1Y, before: P1Y}
      - {id: boolean, type: boolean, label: {en: Boolean, tc: 是非}}
      - id: choice
        type: choice
        label: {en: Choice, tc: 選擇}
        options: [{value: a, label: {en: A, tc: 甲}}, {value: b, label: {en: B, tc: 乙}}]
      - id: multiChoice
        type: multiChoice
        label: {en: Several, tc: 多選}
        maxItems: 2
        options: [{value: a, label: {en: A, tc: 甲}}, {value: b, label: {en: B, tc: 乙}}]
      - {id: email, type: email, label: {en: Email, tc: 電郵}}
      - {id: phone, type: phone, label: {en: Phone, tc: 電話}}
      - {id: hkid, type: hkid, label: {en: HKID, tc: 身份證}}
      - {id: address, type: address, label: {en: Address, tc: 地址}}
      - id: group
        type: group
        label: {en: Group, tc: 組}
        maxItems: 3
        fields:
          - {id: name, type: text, label: {en: Name, tc: 名稱}, required: true}
          - {id: born, type: date, label: {en: Born, tc: 出生}}
  - id: send
    type: submit
    title: {en: Submit, tc: 遞交}
"""

# One valid answer per field of EVERY_FIELD_SERVICE.
EVERY_FIELD_ANSWERS: dict[str, Any] = {
    "text": "Chan Tai Man", "number": 42, "date": "2026-01-02", "boolean": True, "choice": "a",
    "multiChoice": ["a", "b"], "email": "someone@example.org", "phone": "91234567", "hkid": "A1234563",
    "address": {"building": "Tower", "street": "1 Road", "district": "wan-chai", "region": "HK"},
    "group": [{"name": "Siu Ming", "born": "2020-05-06"}],
}


def write_tree(root: Path) -> Path:
    """Write the tree under ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "taxonomy.yaml").write_text(TAXONOMY, encoding="utf-8")
    (root / "option-lists.yaml").write_text(OPTION_LISTS, encoding="utf-8")
    (root / "departments").mkdir(exist_ok=True)
    for code, text in DEPARTMENTS.items():
        (root / "departments" / f"{code}.yaml").write_text(text, encoding="utf-8")
    for relative, text in SERVICES.items():
        path = root / "services" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def settings_for(definitions: Path, data_dir: Path, env: Environment, **extra: Any) -> Settings:
    return Settings(env=env, definitions=definitions, data_dir=data_dir, **extra)


def make_api(settings: Settings, engine: Engine, *, limits: Limits | None = None) -> Api:
    app = create_app(settings, engine, limits=limits)
    transport = httpx.ASGITransport(app=app)
    return Api(httpx.AsyncClient(transport=transport, base_url="http://onestop.test"), engine=engine)


__all__ = ["Api", "codes_of", "errors_of", "login", "make_api", "settings_for"]
