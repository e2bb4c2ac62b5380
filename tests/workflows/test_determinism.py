"""Workflow code decides nothing from a clock, a random source, the environment or a file.

The worker runs workflows without the SDK's sandbox (see ``onestop.engine.temporal.workflow_runner``), so this is
where a non-deterministic call is caught: in the workflow modules and the catalogue modules they evaluate with.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "onestop"
WORKFLOW_CODE = [*sorted((PACKAGE / "workflows").glob("*.py")),
                 *(PACKAGE / "catalogue" / name for name in ("values.py", "functions.py", "expressions.py"))]
FORBIDDEN_CALLS = ("datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time", "time.monotonic",
                   "time.perf_counter", "time.sleep", "uuid.uuid1", "uuid.uuid4", "os.getenv", "open", "input")
FORBIDDEN_PREFIXES = ("random.", "secrets.", "os.environ", "threading.", "asyncio.sleep")
FORBIDDEN_MODULES = ("random", "secrets", "time", "uuid", "os", "threading", "socket", "subprocess")


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in FORBIDDEN_CALLS or name.startswith(FORBIDDEN_PREFIXES):
                found.append(f"{path.name}:{node.lineno} calls {name}")
        elif isinstance(node, ast.Attribute) and ast.unparse(node).startswith("os.environ"):
            found.append(f"{path.name}:{node.lineno} reads os.environ")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found.extend(f"{path.name}:{node.lineno} imports {m}" for m in modules
                         if m.split(".")[0] in FORBIDDEN_MODULES)
    return found


def test_workflow_code_calls_no_clock_random_source_environment_or_file() -> None:
    assert [finding for path in WORKFLOW_CODE for finding in _findings(path)] == []


def test_the_check_catches_a_planted_call(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("import random\nfrom datetime import datetime\n"
                       "def f():\n    return datetime.now(), random.random(), os.environ['X']\n", encoding="utf-8")
    assert _findings(planted) == ["planted.py:1 imports random", "planted.py:4 calls datetime.now",
                                  "planted.py:4 calls random.random", "planted.py:4 reads os.environ"]
