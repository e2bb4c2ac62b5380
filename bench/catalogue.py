"""Catalogue benchmark: search index build and query latency at 100, 1,000 and 10,000 services, and
``services(first: 20)`` GraphQL throughput against raw graphql-core over the same data.

Also ``onestop validate`` over generated trees of 1,000 and 10,000 services (CPU seconds, peak RSS, KB per service)
and the latency of a cheap GraphQL query while a 10,000-service catalogue reloads, against idle: with the tree parsed
and validated in a child process (the server's default) and on the event loop (``--reload-in child|loop|both``):
``--reload-rounds`` rounds (3) of an idle window then a reload, the median of the rounds' p99 ratios printed, and
``--reload-change`` says what changes before each reload (one service's version, one title, every service).

Run: ``.venv/bin/python bench/catalogue.py`` (``--sizes 100,1000`` to choose sizes, ``--only validate`` for one
part, ``--json`` for machine-readable output).
Inputs are generated from fixed word lists with a fixed seed, so two runs measure the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import gc
import itertools
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from onestop.catalogue.search import SearchDocument, SearchIndex  # noqa: E402 - needs the sys.path line above

SEED = 20261127
THEMES = ["transport", "health", "education", "housing", "tax", "welfare", "leisure", "immigration",
          "employment", "environment", "business", "family"]
AGE_GROUPS = ["child", "youth", "adult", "elderly"]
DEPARTMENTS = ["TD", "DH", "EDB", "HD", "IRD", "SWD", "LCSD", "IMMD", "LD", "EPD", "CR", "WFSFAA", "FEHD"]

# (English, Traditional Chinese) pairs of words found in Hong Kong service names.
VERBS = [("Apply for", "申請"), ("Renew", "續領"), ("Replace", "補領"), ("Register", "登記"), ("Book", "預約"),
         ("Cancel", "取消"), ("Change", "更改"), ("Report", "報告"), ("Pay", "繳付"), ("Check", "查詢"),
         ("Extend", "延長"), ("Transfer", "轉讓"), ("Appeal against", "上訴"), ("Claim", "申索")]
NOUNS = [("driving licence", "駕駛執照"), ("vehicle licence", "車輛牌照"), ("identity card", "身份證"),
         ("passport", "護照"), ("senior citizen card", "長者咭"), ("health care voucher", "醫療券"),
         ("student finance", "學生資助"), ("school place", "學位"), ("public rental housing", "公共租住房屋"),
         ("salaries tax return", "薪俸稅報税表"), ("sports facility", "康體設施"), ("marriage", "婚姻"),
         ("birth registration", "出生登記"), ("business registration", "商業登記"), ("work permit", "工作簽證"),
         ("food licence", "食物牌照"), ("library card", "圖書證"), ("vaccination", "疫苗接種"),
         ("travel document", "旅行證件"), ("parking permit", "泊車許可證"), ("elderly allowance", "長者生活津貼"),
         ("childcare subsidy", "託兒津貼"), ("water bill", "水費單"), ("recycling collection", "回收服務"),
         ("learner driver", "學習駕駛"), ("examination", "考試"), ("disability allowance", "傷殘津貼"),
         ("scholarship", "獎學金"), ("trade mark", "商標"), ("dog licence", "狗隻牌照")]
QUALIFIERS = [("online", "網上"), ("for the elderly", "長者"), ("for students", "學生"), ("full", "正式"),
              ("temporary", "臨時"), ("international", "國際"), ("replacement", "補發"), ("annual", "年度"),
              ("urgent", "緊急"), ("for families", "家庭"), ("", ""), ("", "")]
SUMMARY_WORDS = [("Submit your application", "遞交申請"), ("with supporting documents", "連同證明文件"),
                 ("and pay the fee", "並繳付費用"), ("at any time", "隨時"), ("through iAM Smart", "透過智方便"),
                 ("within 10 working days", "於十個工作天內"), ("if you are eligible", "如符合資格"),
                 ("for Hong Kong residents", "香港居民適用"), ("by post or in person", "郵寄或親身"),
                 ("and track the status", "並查閱進度"), ("before it expires", "於屆滿前"),
                 ("with your HKID", "以香港身份證"), ("for yourself or your family", "為自己或家人")]


def generate_documents(count: int, seed: int = SEED, *, themes: Sequence[str] = THEMES,
                       age_groups: Sequence[str] = AGE_GROUPS,
                       departments: Sequence[str] = DEPARTMENTS) -> list[SearchDocument]:
    """``count`` services with mixed English/Chinese texts, reproducible from ``seed``."""
    rng = random.Random(seed)
    docs: list[SearchDocument] = []
    for number in range(count):
        verb, noun, qualifier = rng.choice(VERBS), rng.choice(NOUNS), rng.choice(QUALIFIERS)
        title_en = " ".join(part for part in (verb[0], "a" if rng.random() < 0.3 else "", noun[0], qualifier[0])
                            if part)
        title_tc = f"{qualifier[1]}{verb[1]}{noun[1]}"
        phrases = rng.sample(SUMMARY_WORDS, 3)
        summary_en = f"{verb[0]} {noun[0]}. " + " ".join(p[0] for p in phrases) + "."
        summary_tc = f"{verb[1]}{noun[1]}。" + "，".join(p[1] for p in phrases) + "。"
        extra = rng.choice(NOUNS)
        docs.append(SearchDocument(
            id=f"service-{number:05d}",
            title={"en": title_en.capitalize(), "tc": title_tc},
            summary={"en": summary_en, "tc": summary_tc},
            keywords={"en": [noun[0], extra[0]], "tc": [noun[1], extra[1]]},
            themes=tuple(rng.sample(list(themes), rng.randint(1, 2))),
            age_groups=tuple(rng.sample(list(age_groups), rng.randint(1, 3))),
            department=rng.choice(list(departments)),
        ))
    return docs


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    theme: str | None = None
    age_group: str | None = None
    department: str | None = None


QUERIES = [
    Query("english exact", "driving licence"),
    Query("english exact", "senior citizen card"),
    Query("english exact", "public rental housing"),
    Query("english partial", "licen"),
    Query("english partial", "vacc"),
    Query("english typo", "drivng licence"),
    Query("english typo", "pasport"),
    Query("english typo", "scholarshp"),
    Query("chinese traditional", "駕駛執照"),
    Query("chinese traditional", "長者"),
    Query("chinese traditional", "公共租住房屋"),
    Query("chinese simplified", "驾驶执照"),
    Query("chinese simplified", "长者生活津贴"),
    Query("filtered", "licence", theme="transport"),
    Query("filtered", "長者", age_group="elderly", department="SWD"),
    Query("filtered", "apply", theme="health", age_group="adult"),
]


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class SizeResult:
    size: int
    build_seconds: float
    peak_bytes: int
    warm: tuple[float, float, float]
    cold: tuple[float, float, float]
    unlimited: tuple[float, float, float]
    cpu: tuple[float, float, float]
    per_kind_p99: dict[str, float]


def measure_search(size: int, repeats: int) -> SizeResult:
    docs = generate_documents(size)
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    index = SearchIndex.build(docs)
    build = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Build time is measured again without tracemalloc, which slows allocation-heavy code several-fold.
    started = time.perf_counter()
    index = SearchIndex.build(docs)
    build = min(build, time.perf_counter() - started)

    cpu: list[float] = []

    def run(query: Query, limit: int | None = 20) -> float:
        began, began_cpu = time.perf_counter(), time.thread_time()
        index.search(query.text, theme=query.theme, age_group=query.age_group, department=query.department,
                     limit=limit)
        elapsed = time.perf_counter() - began
        if limit is not None:
            cpu.append(time.thread_time() - began_cpu)
        return elapsed

    for query in QUERIES:  # warm-up: first OpenCC use, caches
        run(query)
    cpu.clear()
    warm: list[float] = []
    cold: list[float] = []
    unlimited: list[float] = []
    per_kind: dict[str, list[float]] = {}
    for _ in range(repeats):
        for query in QUERIES:
            elapsed = run(query)
            warm.append(elapsed)
            per_kind.setdefault(query.kind, []).append(elapsed)
        for query in QUERIES:
            index.clear_cache()  # every widened word recomputed: the first time anyone types it
            cold.append(run(query))
        for query in QUERIES:
            unlimited.append(run(query, None))  # every hit, ranked: what a paginated API asks for

    def triple(samples: list[float]) -> tuple[float, float, float]:
        return (_percentile(samples, 0.50), _percentile(samples, 0.95), _percentile(samples, 0.99))

    return SizeResult(size, build, peak, triple(warm), triple(cold), triple(unlimited), triple(cpu),
                      {kind: _percentile(samples, 0.99) for kind, samples in per_kind.items()})


def report_search(results: list[SizeResult]) -> None:
    ms = 1000.0
    print("\n== search index ==")
    print("wall-clock latency. warm: top 20, widened words cached; cold: cache cleared before each query;")
    print("all: every hit ranked. cpu: CPU time of the warm and cold queries (unaffected by other processes).")
    print(f"{'services':>9} {'build s':>8} {'peak MiB':>9} | {'warm p50':>9} {'p95':>7} {'p99':>7} ms"
          f" | {'cold p50':>9} {'p95':>7} {'p99':>7} ms | {'all p50':>8} {'p95':>7} {'p99':>7} ms"
          f" | {'cpu p50':>8} {'p95':>7} {'p99':>7} ms")
    for r in results:
        print(f"{r.size:>9,} {r.build_seconds:>8.3f} {r.peak_bytes / 2**20:>9.1f} | "
              f"{r.warm[0] * ms:>9.3f} {r.warm[1] * ms:>7.3f} {r.warm[2] * ms:>7.3f}    | "
              f"{r.cold[0] * ms:>9.3f} {r.cold[1] * ms:>7.3f} {r.cold[2] * ms:>7.3f}    | "
              f"{r.unlimited[0] * ms:>8.3f} {r.unlimited[1] * ms:>7.3f} {r.unlimited[2] * ms:>7.3f}    | "
              f"{r.cpu[0] * ms:>8.3f} {r.cpu[1] * ms:>7.3f} {r.cpu[2] * ms:>7.3f}")
    print("\np99 per query kind (warm, ms):")
    kinds = list(results[0].per_kind_p99)
    print(f"{'services':>9} " + " ".join(f"{kind:>20}" for kind in kinds))
    for r in results:
        print(f"{r.size:>9,} " + " ".join(f"{r.per_kind_p99[kind] * ms:>20.3f}" for kind in kinds))
    if len(results) > 1:
        print("\ngrowth (ratio to the previous size):")
        for before, after in itertools.pairwise(results):
            print(f"  {before.size:,} -> {after.size:,} services (x{after.size / before.size:g}): "
                  f"build x{after.build_seconds / before.build_seconds:.1f}, "
                  f"memory x{after.peak_bytes / before.peak_bytes:.1f}, "
                  f"warm p99 x{after.warm[2] / before.warm[2]:.1f}, cold p99 x{after.cold[2] / before.cold[2]:.1f}, "
                  f"all-hits p99 x{after.unlimited[2] / before.unlimited[2]:.1f}")
    worst = results[-1]
    wall = "meets" if max(worst.warm[2], worst.cold[2]) < 0.005 else "MISSES"
    cpu = "meets" if worst.cpu[2] < 0.005 else "MISSES"
    print(f"\ntarget p99 < 5 ms at {worst.size:,} services: wall clock {wall} (warm {worst.warm[2] * ms:.3f} ms, "
          f"cold {worst.cold[2] * ms:.3f} ms), CPU time {cpu} ({worst.cpu[2] * ms:.3f} ms); "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (above the core count, wall clock "
          f"includes waiting for a core)")


# --- GraphQL -------------------------------------------------------------------------------------------------

GRAPHQL_QUERY = """
query Services($search: String) {
  services(first: 20, search: $search) {
    totalCount
    edges { cursor node { id slug version title summary loginRequired
                          themes { id name } ageGroups { id name } department { code name } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

RAW_SDL = """
type Query {
  services(first: Int, after: String, search: String, theme: ID, ageGroup: ID, department: ID): ServiceConnection!
}
type ServiceConnection { totalCount: Int! edges: [ServiceEdge!]! pageInfo: PageInfo! }
type ServiceEdge { cursor: String! node: Service! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type Service {
  id: ID! slug: String! version: Int! title: String! summary: String loginRequired: Boolean!
  themes: [Theme!]! ageGroups: [AgeGroup!]! department: Department
}
type Theme { id: ID! name: String! }
type AgeGroup { id: ID! name: String! }
type Department { id: ID! code: String! name: String! }
"""


def _bench_catalogue(size: int) -> Any:
    """The seed catalogue's taxonomy and departments with ``size`` generated services (cloned seed models)."""
    from dataclasses import replace
    from types import MappingProxyType

    from onestop.catalogue import load_catalogue
    from onestop.catalogue.text import LocalizedList, LocalizedText

    seed = load_catalogue(ROOT / "definitions")
    templates = list(seed.services.values())
    docs = generate_documents(size, themes=[t.id for t in seed.taxonomy.themes],
                              age_groups=[g.id for g in seed.taxonomy.age_groups],
                              departments=list(seed.departments))
    services = {}
    for number, doc in enumerate(docs):
        template = templates[number % len(templates)]
        services[doc.id] = template.model_copy(update={
            "id": doc.id,
            "title": LocalizedText.model_validate(dict(doc.title)),
            "summary": LocalizedText.model_validate(dict(doc.summary)),
            "keywords": LocalizedList.model_validate({lang: list(words) for lang, words in doc.keywords.items()}),
            "themes": doc.themes, "age_groups": doc.age_groups, "department": doc.department,
        })
    return replace(seed, services=MappingProxyType(services))


def _raw_schema(snapshot: Any) -> Any:
    """The same query over the same data in plain graphql-core: resolvers slice first, then build dicts."""
    from graphql import build_schema as build_sdl

    from onestop.graphql.relay import to_global_id

    catalogue, index = snapshot.catalogue, snapshot.index
    themes = {t.id: t for t in catalogue.taxonomy.themes}
    groups = {g.id: g for g in catalogue.taxonomy.age_groups}
    schema = build_sdl(RAW_SDL)

    def cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"cursor:{offset}".encode()).decode("ascii")

    def service_dict(service: Any, lang: Any) -> dict[str, Any]:
        department = catalogue.departments.get(service.department)
        return {
            "id": to_global_id("Service", service.id), "slug": service.id, "version": service.version,
            "title": service.title.get(lang), "summary": service.summary.get(lang),
            "loginRequired": service.login == "required",
            "themes": [{"id": t, "name": themes[t].name.get(lang)} for t in service.themes if t in themes],
            "ageGroups": [{"id": g, "name": groups[g].name.get(lang)} for g in service.age_groups if g in groups],
            "department": None if department is None else {
                "id": to_global_id("Department", department.code), "code": department.code,
                "name": department.name.get(lang)},
        }

    def resolve_services(_root: Any, info: Any, first: int = 20, search: str | None = None,
                         **filters: Any) -> dict[str, Any]:
        lang = info.context["lang"]
        if search and search.strip():
            found = index.search_page(search, limit=first)
            window, total = [hit.id for hit in found.hits], found.total
        else:
            slugs = index.filter()
            window, total = slugs[:first], len(slugs)
        edges = [{"cursor": cursor(i), "node": service_dict(catalogue.services[slug], lang)}
                 for i, slug in enumerate(window)]
        return {"totalCount": total, "edges": edges,
                "pageInfo": {"hasNextPage": len(window) < total, "hasPreviousPage": False,
                             "startCursor": edges[0]["cursor"] if edges else None,
                             "endCursor": edges[-1]["cursor"] if edges else None}}

    if schema.query_type is None:
        raise RuntimeError("the raw SDL has no Query type")
    schema.query_type.fields["services"].resolve = resolve_services
    return schema


async def _graphql_ratio(size: int, seconds: float) -> None:
    from onestop.config import Environment, Settings
    from onestop.engine import CatalogueStore, build_engine
    from onestop.engine.catalogue_store import build_snapshot

    started = time.perf_counter()
    catalogue = _bench_catalogue(size)
    snapshot = build_snapshot(catalogue)
    print(f"catalogue of {len(catalogue.services):,} services built and indexed in "
          f"{time.perf_counter() - started:.1f} s")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(env=Environment.DEVELOPMENT, data_dir=Path(data_dir), catalogue_poll_seconds=0.0)
        engine = await build_engine(settings)
        engine.catalogue = CatalogueStore(ROOT / "definitions", snapshot)  # the generated catalogue, not the seed
        try:
            await _compare_graphql(settings, engine, snapshot, seconds)
        finally:
            await engine.close()


async def _compare_graphql(settings: Any, engine: Any, snapshot: Any, seconds: float) -> None:
    from graphql import graphql as execute_raw
    from starlette.requests import Request

    from onestop.catalogue.text import Lang
    from onestop.graphql.context import Context
    from onestop.graphql.schema import build_schema

    schema = build_schema(production=True)
    raw = _raw_schema(snapshot)
    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}

    async def onestop(variables: dict[str, Any]) -> Any:
        # A fresh context per request, as the Starlette view builds one.
        context = Context(request=Request(scope), response=None, settings=settings, engine=engine, lang=Lang.EN,
                          snapshot=snapshot)
        result = await schema.execute(GRAPHQL_QUERY, variable_values=variables, context_value=context)
        if result.errors:
            raise RuntimeError(f"onestop schema answered errors: {result.errors}")
        return result.data

    async def baseline(variables: dict[str, Any]) -> Any:
        result = await execute_raw(raw, GRAPHQL_QUERY, variable_values=variables, context_value={"lang": Lang.EN})
        if result.errors:
            raise RuntimeError(f"raw graphql-core answered errors: {result.errors}")
        return result.data

    for label, variables in (("services(first: 20)", {}),
                             ("services(first: 20, search: \"driving licence\")", {"search": "driving licence"})):
        ours, theirs = await onestop(variables), await baseline(variables)
        if ours != theirs:
            raise RuntimeError(f"{label}: the two executions disagree; the comparison would be unfair")
        ours_rate, raw_rate = await _throughputs(functools.partial(onestop, variables),
                                                 functools.partial(baseline, variables), seconds)
        verdict = "meets" if ours_rate / raw_rate >= 0.8 else "MISSES"
        print(f"{label}: onestop {ours_rate:,.0f} req/CPU-s, raw graphql-core {raw_rate:,.0f} req/CPU-s, "
              f"ratio {ours_rate / raw_rate:.2f} ({verdict} the 0.8 aim); same {len(ours['services']['edges'])} "
              f"edges of {ours['services']['totalCount']:,}")


def measure_graphql(size: int, seconds: float) -> None:
    """``services(first: 20)`` through the onestop schema vs raw graphql-core over the same data."""
    print(f"\n== GraphQL services(first: 20), in process, {size:,} services ==")
    try:
        import onestop.graphql.schema  # noqa: F401
    except ImportError as exc:
        print(f"not measured: onestop.graphql.schema is not importable ({exc})")
        return
    asyncio.run(_graphql_ratio(size, seconds))


async def _throughputs(first: Callable[[], Awaitable[object]], second: Callable[[], Awaitable[object]],
                       seconds: float, rounds: int = 6) -> tuple[float, float]:
    """Requests per second of each, measured in alternating rounds so drift (GC, CPU clock) hits both alike."""
    for _ in range(20):  # warm-up
        await first()
        await second()
    counts, times = [0, 0], [0.0, 0.0]
    for _ in range(rounds):
        for which, call in enumerate((first, second)):
            started, started_cpu = time.perf_counter(), time.thread_time()
            while time.perf_counter() - started < seconds / rounds:
                await call()
                counts[which] += 1
            # Per CPU second: another process taking the core must not count against either side.
            times[which] += time.thread_time() - started_cpu
    return counts[0] / times[0], counts[1] / times[1]


# --- validate and load ---------------------------------------------------------------------------------------

_SHARED_FILES = ("taxonomy.yaml", "option-lists.yaml", "feeds.yaml")
_SHARED_DIRS = ("departments", "feeds", "fragments")
_ID_LINE = re.compile(r"^id: (\S+)$", re.MULTILINE)


def generate_tree(dest: Path, count: int) -> Path:
    """A definitions tree at ``dest`` with the seed's shared files and ``count`` services cloned from the seed
    services (the n-th clone of ``x`` is ``x-nNNNNN``, in x's theme folder), so ``onestop validate`` reads it clean.
    Texts repeat across clones, as the many shared labels of a real catalogue do."""
    seed = ROOT / "definitions"
    dest.mkdir(parents=True, exist_ok=True)
    for name in _SHARED_FILES:
        shutil.copy(seed / name, dest / name)
    for name in _SHARED_DIRS:
        shutil.copytree(seed / name, dest / name, dirs_exist_ok=True)
    templates = sorted((seed / "services").rglob("*.yaml"))
    texts = [path.read_text(encoding="utf-8") for path in templates]
    for number in range(count):
        index = number % len(templates)
        folder = dest / "services" / templates[index].parent.name
        folder.mkdir(parents=True, exist_ok=True)
        text = _ID_LINE.sub(rf"id: \1-n{number:05d}", texts[index], count=1)
        (folder / f"{templates[index].stem}-n{number:05d}.yaml").write_text(text, encoding="utf-8")
    return dest


@dataclass(frozen=True)
class ValidateResult:
    size: int
    cpu_seconds: float  # median of the runs: user + system time of the child process
    wall_seconds: float
    max_rss_bytes: int
    exit_code: int

    @property
    def kb_per_service(self) -> float:
        return self.max_rss_bytes / 1024 / self.size


def _run_child(argv: list[str]) -> tuple[float, float, int, int]:
    """CPU seconds, wall seconds, peak RSS bytes and exit status of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,  # noqa: S603 - our own CLI
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    # wait4 gives this child's own usage (RUSAGE_CHILDREN would be the maximum over every child so far).
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.stderr is not None:
        child.stderr.close()
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # Linux reports KiB, macOS bytes
    return usage.ru_utime + usage.ru_stime, wall, rss, child.returncode


def measure_validate(size: int, runs: int) -> ValidateResult:
    """``onestop validate`` over a generated tree of ``size`` services, in a fresh process per run."""
    with tempfile.TemporaryDirectory() as folder:
        tree = generate_tree(Path(folder) / "definitions", size)
        samples = [_run_child([sys.executable, "-m", "onestop.cli", "validate", str(tree)]) for _ in range(runs)]
    cpu, wall = statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
    rss = int(statistics.median(s[2] for s in samples))
    return ValidateResult(size, cpu, wall, rss, max(s[3] for s in samples))


def report_validate(results: list[ValidateResult]) -> None:
    print("\n== onestop validate (fresh process per run; median CPU time, wall clock, peak RSS) ==")
    print(f"{'services':>9} {'cpu s':>8} {'wall s':>8} {'RSS MiB':>8} {'KB/service':>11} {'exit':>5}")
    for r in results:
        print(f"{r.size:>9,} {r.cpu_seconds:>8.2f} {r.wall_seconds:>8.2f} {r.max_rss_bytes / 2**20:>8.0f} "
              f"{r.kb_per_service:>11.1f} {r.exit_code:>5}")
    for before, after in itertools.pairwise(results):
        print(f"  {before.size:,} -> {after.size:,} services (x{after.size / before.size:g}): "
              f"cpu x{after.cpu_seconds / before.cpu_seconds:.1f}, "
              f"RSS x{after.max_rss_bytes / before.max_rss_bytes:.1f}")


# --- reload under load ---------------------------------------------------------------------------------------

RELOAD_QUERY = "query { services(first: 1) { totalCount } }"


@dataclass(frozen=True)
class ReloadRound:
    reload_seconds: float
    idle: tuple[float, float]  # p50, p99 seconds
    during: tuple[float, float]
    samples: int
    swapped: bool
    # The same, counted from the request's arrival: with the wait for the event loop's next turn, which is where a
    # reload running on the loop (rather than in a thread) delays a request.
    idle_arrival: tuple[float, float]
    during_arrival: tuple[float, float]
    cpu_seconds: float  # the server process's CPU during the reload (the child's is its own)
    load_average: float
    # From arrival again, in the loop thread's CPU time rather than wall time: what the loop itself did (the query
    # and any reload step run before it), without the time other processes on a shared machine took the core.
    idle_on_cpu: tuple[float, float] = (0.0, 0.0)
    during_on_cpu: tuple[float, float] = (0.0, 0.0)
    # The tail past p99, from arrival: p99.9 and the worst query, idle and during (a pause on the loop shows here
    # first when it is too short a share of a long reload to move p99).
    idle_tail: tuple[float, float] = (0.0, 0.0)
    during_tail: tuple[float, float] = (0.0, 0.0)

    @property
    def ratio(self) -> float:
        return self.during[1] / self.idle[1]

    @property
    def arrival_ratio(self) -> float:
        return self.during_arrival[1] / self.idle_arrival[1]

    @property
    def on_cpu_ratio(self) -> float:
        return self.during_on_cpu[1] / self.idle_on_cpu[1]


@dataclass(frozen=True)
class ReloadResult:
    """Medians over the rounds; each round measures idle, then one reload, in the same process."""

    size: int
    reload_seconds: float
    idle: tuple[float, float]  # p50, p99 seconds
    during: tuple[float, float]
    samples: int
    swapped: bool
    idle_arrival: tuple[float, float] = (0.0, 0.0)
    during_arrival: tuple[float, float] = (0.0, 0.0)
    reload_in: str = "loop"  # where the tree is parsed and validated: "child" process or the event "loop"
    cpu_seconds: float = 0.0
    change: str = "one"  # what changes before each reload (see RELOAD_CHANGES)
    ratio: float = 0.0  # median over the rounds of p99 during the reload / p99 idle
    arrival_ratio: float = 0.0
    on_cpu_ratio: float = 0.0
    rounds: tuple[ReloadRound, ...] = ()


RELOAD_CHANGES = {
    "one": "one service's version (its search text unchanged)",
    "title": "one service's title (the search index changes)",
    "all": "every service's version (nothing can be kept)",
}
_VERSION_LINE = re.compile(r"^version: (\d+)$", re.MULTILINE)
_TITLE_START = re.compile(r"^title: \{en: (Reloaded \d+ )?", re.MULTILINE)


def _change_tree(tree: Path, change: str, number: int) -> None:
    """Edit the tree before reload ``number`` (1, 2, ...) so the catalogue's version moves."""
    files = sorted((tree / "services").rglob("*.yaml"))
    for path in files if change == "all" else files[:1]:
        text = path.read_text(encoding="utf-8")
        if change == "title":
            edited = _TITLE_START.sub(f"title: {{en: Reloaded {number} ", text, count=1)
        else:
            # One more than the file's own version: generated services do not all start at version 1.
            edited = _VERSION_LINE.sub(lambda found: f"version: {int(found[1]) + 1}", text, count=1)
        if edited == text:
            raise RuntimeError(f"could not change {path}")
        path.write_text(edited, encoding="utf-8")


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


async def _reload_latency(size: int, idle_seconds: float, reload_in: str, rounds: int, change: str) -> ReloadResult:
    from starlette.requests import Request

    from onestop.catalogue.text import Lang
    from onestop.config import Environment, Settings
    from onestop.engine import CatalogueStore, build_engine
    from onestop.graphql.context import Context
    from onestop.graphql.schema import build_schema

    with tempfile.TemporaryDirectory() as folder:
        tree = generate_tree(Path(folder) / "definitions", size)
        store = await CatalogueStore.open(tree, reload_in_child=reload_in == "child")
        settings = Settings(env=Environment.DEVELOPMENT, data_dir=Path(folder) / "data", catalogue_poll_seconds=0.0)
        engine = await build_engine(settings)
        engine.catalogue = store
        schema = build_schema(production=True)
        scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""}

        arrivals: list[float] = []
        on_cpu: list[float] = []

        async def query() -> float:
            arrived, arrived_cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0)  # a request arriving now is read on the loop's next turn
            context = Context(request=Request(scope), response=None, settings=settings, engine=engine, lang=Lang.EN,
                              snapshot=store.snapshot)
            started = time.perf_counter()
            result = await schema.execute(RELOAD_QUERY, context_value=context)
            finished = time.perf_counter()
            if result.errors:
                raise RuntimeError(f"the query failed: {result.errors}")
            arrivals.append(finished - arrived)
            on_cpu.append(time.thread_time() - arrived_cpu)
            return finished - started

        def p50_p99(samples: Sequence[float]) -> tuple[float, float]:
            return _percentile(samples, 0.5), _percentile(samples, 0.99)

        def tail(samples: Sequence[float]) -> tuple[float, float]:
            return _percentile(samples, 0.999), max(samples)

        measured: list[ReloadRound] = []
        try:
            for _ in range(50):  # warm-up
                await query()
            for number in range(1, rounds + 1):
                # Idle right before each reload, in the same state (the previous reload's leftovers freed or not).
                idle: list[float] = []
                arrivals.clear()
                on_cpu.clear()
                began = time.perf_counter()
                while time.perf_counter() - began < idle_seconds:
                    idle.append(await query())
                idle_arrivals, idle_on_cpu = list(arrivals), list(on_cpu)
                arrivals.clear()
                on_cpu.clear()
                _change_tree(tree, change, number)
                version = store.catalogue.version
                load = os.getloadavg()[0]
                began, began_cpu = time.perf_counter(), time.process_time()
                reload = asyncio.get_running_loop().create_task(store.reload())
                during: list[float] = []
                while not reload.done():
                    during.append(await query())
                swapped = await reload and store.catalogue.version != version
                seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
                measured.append(ReloadRound(seconds, p50_p99(idle), p50_p99(during), len(during), swapped,
                                            p50_p99(idle_arrivals), p50_p99(arrivals), cpu, load,
                                            p50_p99(idle_on_cpu), p50_p99(on_cpu), tail(idle_arrivals),
                                            tail(arrivals)))
        finally:
            await engine.close()

    def middle(pick: Callable[[ReloadRound], tuple[float, float]]) -> tuple[float, float]:
        return _median([pick(r)[0] for r in measured]), _median([pick(r)[1] for r in measured])

    return ReloadResult(
        size, _median([r.reload_seconds for r in measured]), middle(lambda r: r.idle), middle(lambda r: r.during),
        int(_median([r.samples for r in measured])), all(r.swapped for r in measured),
        middle(lambda r: r.idle_arrival), middle(lambda r: r.during_arrival), reload_in,
        _median([r.cpu_seconds for r in measured]), change, _median([r.ratio for r in measured]),
        _median([r.arrival_ratio for r in measured]), _median([r.on_cpu_ratio for r in measured]), tuple(measured),
    )


def measure_reload(size: int, idle_seconds: float, reload_in: str = "child", rounds: int = 3,
                   change: str = "one") -> ReloadResult:
    """Latency of a cheap GraphQL query, in process, idle and while the catalogue reloads (parsed and validated
    in a child process, or on the event loop), ``rounds`` times."""
    return asyncio.run(_reload_latency(size, idle_seconds, reload_in, rounds, change))


def report_reload(result: ReloadResult) -> None:
    ms = 1000.0
    print(f"\n== catalogue reload under load, {result.size:,} services, loaded in the {result.reload_in}, "
          f"changed: {RELOAD_CHANGES[result.change]}: `{RELOAD_QUERY}` in process, {len(result.rounds)} rounds ==")
    for number, r in enumerate(result.rounds, start=1):
        print(f"round {number}: reload {r.reload_seconds:.1f} s, server CPU {r.cpu_seconds:.2f} s, {r.samples:,} "
              f"queries, swapped: {r.swapped}, load average {r.load_average:.2f} | p99 idle {r.idle[1] * ms:.2f} ms, "
              f"during {r.during[1] * ms:.2f} ms, ratio {r.ratio:.2f} | from arrival: p99 idle "
              f"{r.idle_arrival[1] * ms:.2f} ms, during {r.during_arrival[1] * ms:.2f} ms, "
              f"ratio {r.arrival_ratio:.2f} | "
              f"on CPU: p99 idle {r.idle_on_cpu[1] * ms:.2f} ms, during {r.during_on_cpu[1] * ms:.2f} ms, "
              f"ratio {r.on_cpu_ratio:.2f} | from arrival p99.9/max: idle {r.idle_tail[0] * ms:.1f}/"
              f"{r.idle_tail[1] * ms:.1f} ms, during {r.during_tail[0] * ms:.1f}/{r.during_tail[1] * ms:.1f} ms")
    verdict = "meets" if result.ratio <= 2 else "MISSES"
    print(f"medians: idle p50 {result.idle[0] * ms:.2f} ms, p99 {result.idle[1] * ms:.2f} ms | during the reload "
          f"({result.reload_seconds:.1f} s, server CPU {result.cpu_seconds:.2f} s, {result.samples:,} queries, "
          f"swapped: {result.swapped}) p50 {result.during[0] * ms:.2f} ms, p99 {result.during[1] * ms:.2f} ms | "
          f"p99 ratio (median of the rounds' ratios) {result.ratio:.2f} ({verdict} the 2x aim)")
    verdict = "meets" if result.arrival_ratio <= 2 else "MISSES"
    print(f"from arrival (with the wait for the loop's turn): idle p50 {result.idle_arrival[0] * ms:.2f} ms, "
          f"p99 {result.idle_arrival[1] * ms:.2f} ms | during the reload p50 {result.during_arrival[0] * ms:.2f} ms, "
          f"p99 {result.during_arrival[1] * ms:.2f} ms | p99 ratio {result.arrival_ratio:.2f} ({verdict} the 2x aim); "
          f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"from arrival in the loop thread's CPU time (the loop's own work, without other processes' turns on the "
          f"cores): p99 ratio {result.on_cpu_ratio:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated service counts for search")
    parser.add_argument("--repeats", type=int, default=30, help="passes over the query mix per size")
    parser.add_argument("--graphql-seconds", type=float, default=3.0, help="time per GraphQL measurement")
    parser.add_argument("--validate-sizes", default="1000,10000",
                        help="comma-separated service counts for onestop validate (empty: skip)")
    parser.add_argument("--validate-runs", type=int, default=3, help="fresh processes per validate size")
    parser.add_argument("--reload-size", type=int, default=10000, help="services in the reload measurement (0: skip)")
    parser.add_argument("--reload-in", choices=["child", "loop", "both"], default="both",
                        help="where the reload parses and validates: a child process (the default setting), the "
                             "event loop, or both one after the other")
    parser.add_argument("--reload-rounds", type=int, default=3,
                        help="idle windows and reloads (the median is reported)")
    parser.add_argument("--reload-change", choices=sorted(RELOAD_CHANGES), default="one",
                        help="what changes in the tree before each reload: " + "; ".join(
                            f"{name}: {text}" for name, text in RELOAD_CHANGES.items()))
    parser.add_argument("--only", choices=["search", "validate", "reload"], help="run one part only")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"python": sys.version.split()[0], "seed": SEED}
    if args.only in (None, "search"):
        sizes = [int(size) for size in args.sizes.split(",")]
        results = [measure_search(size, args.repeats) for size in sizes]
        report["search"] = [asdict(result) for result in results]
        if not args.json:
            print(f"python {report['python']}; {len(QUERIES)} queries x {args.repeats} passes per size; seed {SEED}")
            report_search(results)
            measure_graphql(max(sizes), args.graphql_seconds)
    if args.only in (None, "validate") and args.validate_sizes:
        checked = [measure_validate(int(size), args.validate_runs) for size in args.validate_sizes.split(",")]
        report["validate"] = [{**asdict(r), "kb_per_service": r.kb_per_service} for r in checked]
        if not args.json:
            report_validate(checked)
    if args.only in (None, "reload") and args.reload_size:
        modes = ["child", "loop"] if args.reload_in == "both" else [args.reload_in]
        reloads = [measure_reload(args.reload_size, idle_seconds=5.0, reload_in=mode, rounds=args.reload_rounds,
                                  change=args.reload_change) for mode in modes]
        report["reload"] = asdict(reloads[0])
        report["reloads"] = [asdict(reloaded) for reloaded in reloads]
        if not args.json:
            for reloaded in reloads:
                report_reload(reloaded)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
