"""Issue 2 "done when": `onestop validate definitions/` passes on the seed tree and, run as the real command,
catches each error class with file, line and column.

Each mistake is planted in its own copy of a real seed file, so one file's error cannot hide another's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ONESTOP = Path(sys.executable).parent / "onestop"


@dataclass(frozen=True)
class Mistake:
    name: str
    file: str
    old: str | None  # None: `new` is the whole (new) file
    new: str | bytes
    code: str
    marker: str | None  # text on the line the problem must point at (None: line 1)
    hint: str | None = None


S = "services/"
MISTAKES = [
    Mistake("yaml syntax", S + "business/business-registration.yaml", "version: 1\n", "version: [1\n",
            "YAML_SYNTAX", None),
    Mistake("tab", S + "civic/register-as-voter.yaml", "version: 1\n", "version:\t1\n\tx: 1\n", "TAB_INDENT",
            "\tx: 1"),
    Mistake("empty file", S + "extra/empty.yaml", None, "", "EMPTY_FILE", None),
    Mistake("not utf-8", S + "extra/latin1.yaml", None, b"id: caf\xe9\n", "NOT_UTF8", None),
    Mistake("unknown key", S + "education/primary-one-admission.yaml", "\nsummary:", "\nsumary:", "UNKNOWN_KEY",
            "sumary:", "did you mean 'summary'?"),
    Mistake("wrong type", S + "education/student-travel-subsidy.yaml", "version: 1\n", "version: [1, 2]\n",
            "WRONG_TYPE", "version:"),
    Mistake("duplicate service id", S + "extra/copy.yaml", None, "<copy of renew-vehicle-licence>",
            "DUPLICATE_SERVICE", "id: renew-vehicle-licence"),
    Mistake("unknown theme", S + "employment/working-holiday-scheme.yaml", "themes: [employment]",
            "themes: [employmnt]", "UNKNOWN_THEME", "themes:", "did you mean 'employment'?"),
    Mistake("unknown age group", S + "employment/youth-employment-training.yaml", "ageGroups: [youth]",
            "ageGroups: [yuoth]", "UNKNOWN_AGE_GROUP", "ageGroups:"),
    Mistake("unknown department", S + "family/marriage-notice.yaml", "department: IMMD", "department: IMMX",
            "UNKNOWN_DEPARTMENT", "department:"),
    Mistake("unknown provider", S + "housing/change-of-address.yaml", "items: [eme.nameEn,", "items: [emx.nameEn,",
            "UNKNOWN_PROVIDER", "items:"),
    Mistake("unknown data item", S + "immigration/birth-certificate-copy.yaml", "items: [eme.nameEn,",
            "items: [eme.nameEm,", "UNKNOWN_DATA_ITEM", "items:"),
    Mistake("unknown option list", S + "health/student-health-service.yaml", "optionList: genders",
            "optionList: gendres", "UNKNOWN_OPTION_LIST", "optionList: gendres"),
    Mistake("unknown assurance level", S + "housing/home-ownership-scheme.yaml", "assurance: standard",
            "assurance: platinum", "UNKNOWN_ASSURANCE_LEVEL", "assurance: platinum"),
    Mistake("CEL syntax", S + "housing/public-rental-housing.yaml", "when: answers.ownsProperty == \"yes\"",
            "when: answers.ownsProperty == ", "CEL_SYNTAX", "when: answers.ownsProperty =="),
    Mistake("CEL not boolean", S + "family/working-family-allowance.yaml", "when: citizen.age >= 15",
            "when: citizen.age + 15", "CEL_NOT_BOOLEAN", "when: citizen.age + 15"),
    Mistake("reference to a later field", S + "social-welfare/old-age-living-allowance.yaml",
            "when: answers.onCssa == \"yes\"", "when: answers.monthlyIncome > 0", "UNKNOWN_REFERENCE",
            "when: answers.monthlyIncome"),
    Mistake("missing translation", S + "health/elderly-health-care-voucher.yaml",
            "title: {en: Elderly Health Care Voucher account, tc: 長者醫療券戶口, sc: 长者医疗券户口}",
            "title: {en: Elderly Health Care Voucher account}", "MISSING_TRANSLATION", "title:"),
    Mistake("duplicate step id", S + "education/tertiary-student-finance.yaml", "  - id: household\n",
            "  - id: studies\n", "DUPLICATE_STEP", None),
]


def run_validate(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ONESTOP), "validate", str(target)],  # noqa: S603 - our own console script
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_seed_tree_validates(definitions_dir: Path) -> None:
    result = run_validate(definitions_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")


@pytest.fixture(scope="module")
def broken(definitions_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("broken") / "definitions"
    shutil.copytree(definitions_dir, root)
    for mistake in MISTAKES:
        path = root / mistake.file
        path.parent.mkdir(parents=True, exist_ok=True)
        if mistake.code == "DUPLICATE_SERVICE":
            shutil.copy(root / S / "transport/renew-vehicle-licence.yaml", path)
        elif mistake.old is None:
            content = mistake.new
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        else:
            text = path.read_text(encoding="utf-8")
            assert mistake.old in text, f"{mistake.name}: the seed file changed; update the test"
            assert isinstance(mistake.new, str)
            path.write_text(text.replace(mistake.old, mistake.new, 1), encoding="utf-8")
    return root, run_validate(root).stdout


def expected_line(root: Path, mistake: Mistake) -> int:
    if mistake.marker is None:
        return 1
    lines = (root / mistake.file).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if mistake.marker in line)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_error_class_is_reported_with_file_line_and_column(broken: tuple[Path, str], mistake: Mistake
                                                                ) -> None:
    root, output = broken
    lines = output.splitlines()
    pattern = re.compile(rf"^(\S*{re.escape(mistake.file)}):(\d+):(\d+): error\[{mistake.code}\]: .+")
    found = [(i, m) for i, line in enumerate(lines) if (m := pattern.match(line))]
    assert found, f"no {mistake.code} for {mistake.file} in:\n{output}"
    if mistake.marker is not None or mistake.code in ("EMPTY_FILE", "NOT_UTF8"):
        assert expected_line(root, mistake) in [int(m.group(2)) for _, m in found], (mistake, output)
    if mistake.hint is not None:
        assert any(i + 1 < len(lines) and mistake.hint in lines[i + 1] for i, _ in found), output


def test_a_broken_tree_exits_1_and_reports_every_problem(broken: tuple[Path, str]) -> None:
    root, output = broken
    assert run_validate(root).returncode == 1
    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ problems in \d+ files", summary), summary
    assert int(summary.split()[0]) >= len(MISTAKES)


def test_an_unconditional_exit_makes_later_steps_unreachable(definitions_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "definitions"
    shutil.copytree(definitions_dir, root)
    path = root / S / "employment/youth-employment-training.yaml"
    text = path.read_text(encoding="utf-8")
    condition = re.search(r"\n    when: answers\.education == \"degree\"", text)
    assert condition, "the seed file changed; update the test"
    path.write_text(text.replace(condition.group(0), ""), encoding="utf-8")
    result = run_validate(root)
    assert result.returncode == 1
    assert re.search(rf"{re.escape(S)}employment/youth-employment-training\.yaml:\d+:\d+: "
                     r"error\[UNREACHABLE_STEP\]", result.stdout), result.stdout
