"""Checks across files: ids that must exist, ids that must be unique, order of steps and references."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from onestop.catalogue.appointments import check_appointment
from onestop.catalogue.departments import Department, Provider
from onestop.catalogue.expressions import VARIABLES, Expression
from onestop.catalogue.fees import FEES_VARIABLE, MAX_FEE
from onestop.catalogue.fields import AddressField, ChoiceField, Field, GroupField
from onestop.catalogue.functions import CUSTOM, PLACEHOLDER
from onestop.catalogue.loader import did_you_mean
from onestop.catalogue.noticecheck import check_notices
from onestop.catalogue.predicates import Predicate, sample_issue
from onestop.catalogue.problems import Problem
from onestop.catalogue.samples import FRACTIONAL, WHOLE, sample_context, sample_value
from onestop.catalogue.services import Service, computation_order
from onestop.catalogue.steps import (
    AppointmentStep,
    Computations,
    ConsentStep,
    ExitStep,
    PaymentStep,
    PrefillStep,
    Step,
    StepUpStep,
    SubmitStep,
)
from onestop.catalogue.taxonomy import Option, Taxonomy
from onestop.catalogue.text import LocalizedText
from onestop.catalogue.yamlsource import Loc, Source

MIN_ASSURANCE_LEVELS = 3


@dataclass
class Known:
    """The ids services may refer to."""

    themes: set[str] = field(default_factory=set)
    age_groups: set[str] = field(default_factory=set)
    assurance: set[str] = field(default_factory=set)
    weakest_assurance: str | None = None
    departments: set[str] = field(default_factory=set)
    providers: dict[str, Provider] = field(default_factory=dict)
    option_lists: Mapping[str, tuple[Option, ...]] = field(default_factory=dict)
    # False when that shared file failed to load: checking references against it would only add noise.
    taxonomy_ok: bool = True
    lists_ok: bool = True
    departments_ok: bool = True


def unknown(source: Source, loc: Loc, code: str, what: str, value: str, choices: Iterable[str]) -> Problem:
    choices = sorted(choices)
    hint = did_you_mean(value, choices) or (f"known: {', '.join(choices)}" if choices else None)
    return source.problem(loc, code, f"unknown {what} '{value}'", hint)


def duplicates(source: Source, items: Iterable[tuple[str, Loc]], what: str,
               code: str = "DUPLICATE_ID") -> list[Problem]:
    """A problem for every repeat of an id within one file, naming the first line."""
    seen: dict[str, Loc] = {}
    problems = []
    for value, loc in items:
        if value in seen:
            first = source.value_mark(seen[value]).line
            problems.append(source.problem(loc, code, f"{what} '{value}' is defined twice (first at line {first})"))
        else:
            seen[value] = loc
    return problems


def check_taxonomy(taxonomy: Taxonomy, source: Source) -> list[Problem]:
    problems = []
    ids: dict[str, list[str]] = {
        "themes": [theme.id for theme in taxonomy.themes],
        "ageGroups": [group.id for group in taxonomy.age_groups],
        "assuranceLevels": [level.id for level in taxonomy.assurance_levels],
    }
    for key, values in ids.items():
        problems += duplicates(source, ((value, (key, i, "id")) for i, value in enumerate(values)), "id")
    problems += duplicates(source, ((level.acr, ("assuranceLevels", i, "acr"))
                                    for i, level in enumerate(taxonomy.assurance_levels)), "acr")
    if len(taxonomy.assurance_levels) < MIN_ASSURANCE_LEVELS:
        problems.append(source.problem(
            ("assuranceLevels",), "INVALID_VALUE",
            f"{len(taxonomy.assurance_levels)} assurance levels; at least {MIN_ASSURANCE_LEVELS} are needed",
            "list them weakest first, ending with face verification"))
    groups = sorted(enumerate(taxonomy.age_groups), key=lambda pair: pair[1].min_age)
    for (_, lower), (index, upper) in itertools.pairwise(groups):
        if lower.max_age is None or lower.max_age >= upper.min_age:
            problems.append(source.problem(("ageGroups", index, "minAge"), "INVALID_VALUE",
                                           f"age group '{upper.id}' overlaps '{lower.id}'"))
    return problems


def check_option_lists(lists: Mapping[str, tuple[Option, ...]], source: Source) -> list[Problem]:
    problems = []
    for name, options in lists.items():
        problems += duplicates(source, ((o.value, (name, i, "value")) for i, o in enumerate(options)), "option")
    return problems


def check_departments(departments: list[tuple[Department, Source]]) -> list[Problem]:
    problems: list[Problem] = []
    codes: dict[str, Source] = {}
    providers: dict[str, Source] = {}
    for department, source in departments:
        if department.code in codes:
            problems.append(source.problem(("code",), "DUPLICATE_ID", f"department '{department.code}' is "
                                           f"also defined in {codes[department.code].path}"))
        codes.setdefault(department.code, source)
        for index, provider in enumerate(department.providers):
            loc = ("providers", index)
            if provider.id in providers:
                problems.append(source.problem((*loc, "id"), "DUPLICATE_ID", f"provider '{provider.id}' is also "
                                               f"defined in {providers[provider.id].path}"))
            providers.setdefault(provider.id, source)
            problems += duplicates(source, ((item.id, (*loc, "items", i, "id"))
                                            for i, item in enumerate(provider.items)), "data item")
    return problems


def check_verified_items(departments: list[tuple[Department, Source]]) -> list[Problem]:
    """Every ``verifiedBy`` names an existing item that its provider marks ``authoritative``."""
    items = {f"{p.id}.{i.id}": i for department, _ in departments for p in department.providers for i in p.items}
    problems: list[Problem] = []
    for department, source in departments:
        for p_index, provider in enumerate(department.providers):
            for i_index, item in enumerate(provider.items):
                ref = item.verified_by
                if ref is None:
                    continue
                loc = ("providers", p_index, "items", i_index, "verifiedBy")
                target = items.get(ref)
                if target is None:
                    problems.append(unknown(source, loc, "UNKNOWN_DATA_ITEM", "data item", ref, items))
                elif not target.authoritative:
                    problems.append(source.problem(loc, "INVALID_VALUE", f"'{ref}' is not marked authoritative",
                                                   "verify an item only by its source of truth: add "
                                                   "`authoritative: true` to it"))
    return problems


def check_duplicate_services(services: list[tuple[Service, Source]]) -> list[Problem]:
    by_id: dict[str, list[Source]] = {}
    for service, source in services:
        by_id.setdefault(service.id, []).append(source)
    problems = []
    for service_id, sources in by_id.items():
        if len(sources) > 1:
            for source in sources:
                others = ", ".join(other.path for other in sources if other is not source)
                problems.append(source.problem(("id",), "DUPLICATE_SERVICE",
                                               f"service id '{service_id}' is also used by {others}",
                                               "service ids are global: rename one"))
    return problems


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


class ServiceChecker:
    """Every cross-reference check of one service."""

    def __init__(self, service: Service, source: Source, known: Known) -> None:
        self.service, self.source, self.known = service, source, known
        self.problems: list[Problem] = []
        # Sample answers of the top-level fields defined so far, typed as a citizen typing whole numbers would
        # produce them, and as one typing fractions.
        self.answers: dict[str, Any] = {}
        self.fractional: dict[str, Any] = {}
        self.ids: set[str] = set()  # every field id so far, group members included: ids are unique service-wide
        self.entry_of: dict[str, str] = {}  # group member id -> its group's id
        self.prefilled: set[str] = set()
        self.predicates: set[str] = set()  # predicate ids asked for by the prefill steps so far
        # Sample values of the computed values in scope (whole, fractional), as for answers.
        self.computed: tuple[dict[str, Any], dict[str, Any]] = ({}, {})

    def run(self) -> list[Problem]:
        service, known = self.service, self.known
        if known.departments_ok:
            self._ref(("department",), service.department, "UNKNOWN_DEPARTMENT", "department", known.departments)
        if known.taxonomy_ok:
            for index, theme in enumerate(service.themes):
                self._ref(("themes", index), theme, "UNKNOWN_THEME", "theme", known.themes)
            for index, group in enumerate(service.age_groups):
                self._ref(("ageGroups", index), group, "UNKNOWN_AGE_GROUP", "age group", known.age_groups)
            self._ref(("assurance",), service.assurance, "UNKNOWN_ASSURANCE_LEVEL", "assurance level", known.assurance)
        if service.eligibility is not None:
            self._expression(("eligibility", "when"), service.eligibility.when)
        self.problems += duplicates(self.source, ((step.id, ("steps", i, "id"))
                                                  for i, step in enumerate(service.steps)), "step", "DUPLICATE_STEP")
        self._login()
        self._applicant()
        self._reachability()
        if service.compute:
            self._service_compute(service.compute)
        for index, step in enumerate(service.steps):
            self._step(("steps", index), step)
        if service.notices is not None:
            self.problems += check_notices(self.service, self.source, self.computed[0].keys())
        return self.problems

    def _ref(self, loc: Loc, value: str, code: str, what: str, choices: Iterable[str]) -> None:
        if value not in choices:
            self.problems.append(unknown(self.source, loc, code, what, value, choices))

    def _expression(self, loc: Loc, expression: Expression, values: tuple[Any, Any] = (None, None), *,
                    rule: bool = False, entry: tuple[dict[str, Any], dict[str, Any]] | None = None,
                    boolean: bool = True) -> None:
        # A computed value the samples could not compute is left out: reading it is then like reading an
        # unanswered field, not a type error.
        known = [_present(computed) for computed in self.computed]
        samples = [known[0] | sample_context(self.answers, values[0], entry[0] if entry else None),
                   known[1] | sample_context(self.fractional, values[1], entry[1] if entry else None)]
        issues = expression.check(samples, self.answers.keys(), allow_value=rule,
                                  entry_fields=entry[0].keys() if entry is not None else None,
                                  entry_of=self.entry_of, computed=self.computed[0].keys(), boolean=boolean)
        for issue in issues:
            self.problems.append(self.source.problem(loc, issue.code, issue.message, issue.hint))

    def _service_compute(self, compute: Computations) -> None:
        # The service's values may read any top-level answer: they are checked against samples of them all, and
        # are absent at run time until the answers they read are given (like reading an unanswered field).
        saved = dict(self.answers), dict(self.fractional)
        lists = self.known.option_lists
        for step in self.service.steps:
            for item in getattr(step, "fields", ()):
                self.answers[item.id] = sample_value(item, lists, WHOLE)
                self.fractional[item.id] = sample_value(item, lists, FRACTIONAL)
        self._compute(("compute",), compute)
        self.answers, self.fractional = saved

    def _compute(self, loc: Loc, compute: Computations) -> None:
        """Check each named value (in dependency order) and put its sample values in scope."""
        for name in compute:
            taken = name in VARIABLES or name in CUSTOM or name in self.computed[0] or name in self.ids
            if taken:
                self.problems.append(self.source.problem(
                    (*loc, name), "DUPLICATE_ID", f"the computed value name '{name}' is already in use",
                    "computed values share one namespace with each other, fields, functions and "
                    f"{', '.join(sorted(VARIABLES))}: choose another name"))
        order, cycle = computation_order(compute)
        if cycle:
            self.problems.append(self.source.problem(
                (*loc, cycle[0]), "COMPUTE_CYCLE",
                f"computed values {', '.join(cycle)} depend on each other in a cycle",
                "a computed value can read others only if they do not read it back"))
        for name in order:
            expression = compute[name]
            self._expression((*loc, name), expression, boolean=False)
            whole, fractional = (expression.sample_result(_present(self.computed[0]) | sample_context(self.answers)),
                                 expression.sample_result(_present(self.computed[1]) |
                                                          sample_context(self.fractional)))
            self.computed[0][name], self.computed[1][name] = whole, fractional

    def _message(self, loc: Loc, text: LocalizedText) -> None:
        """``{name}`` in a message must be a computed value in scope."""
        for lang in ("en", "tc", "sc"):
            for name in PLACEHOLDER.findall(getattr(text, lang, None) or ""):
                if name not in self.computed[0]:
                    self.problems.append(unknown(self.source, (*loc, lang), "UNKNOWN_REFERENCE",
                                                 "computed value in the message", name, self.computed[0]))

    def _login(self) -> None:
        if self.service.login != "none":
            return
        weakest = self.known.weakest_assurance
        if weakest is not None and self.service.assurance != weakest and self.service.assurance in self.known.assurance:
            # Without a login there is no token to rank, so a higher level could never be enforced.
            self.problems.append(self.source.problem(
                ("assurance",), "INVALID_VALUE",
                f"a `login: none` service is used without a sign-in, so its assurance must be the lowest level "
                f"'{weakest}', not '{self.service.assurance}'",
                f"set `login: required`, or `assurance: {weakest}`"))
        for index, step in enumerate(self.service.steps):
            if isinstance(step, PrefillStep | StepUpStep) or (isinstance(step, ConsentStep) and step.departments):
                self.problems.append(self.source.problem(
                    ("steps", index, "type"), "INVALID_VALUE",
                    f"a {step.type} step needs a logged-in citizen (a consent record names who gave it), but the "
                    "service has `login: none`",
                    "set `login: required`"))

    def _applicant(self) -> None:
        service = self.service
        if service.who_applies == "self":
            self.problems += [self.source.problem(
                ("steps", index, "of"), "INVALID_VALUE",
                "`of: actor` reads the records of the person acting for someone, but the service is applied for by "
                "the citizen themself (`applicant: self`)",
                "remove `of`, or set `applicant: dependent` or `either`")
                for index, step in enumerate(service.steps) if isinstance(step, PrefillStep) and step.of == "actor"]
            if service.acting_as:
                self.problems.append(self.source.problem(
                    ("actingAs",), "INVALID_VALUE",
                    "`actingAs` names who may act for a dependent, but the service is applied for by the citizen "
                    "themself (`applicant: self`)",
                    "set `applicant: dependent` or `applicant: either`, or remove `actingAs`"))
            if service.when_acting_ends is not None:
                self.problems.append(self.source.problem(
                    ("whenActingEnds",), "INVALID_VALUE",
                    "`whenActingEnds` says what becomes of an application when someone stops acting for a "
                    "dependent, but the service is applied for by the citizen themself (`applicant: self`)",
                    "set `applicant: dependent` or `applicant: either`, or remove `whenActingEnds`"))
            return
        if not service.acting_as:
            self.problems.append(self.source.problem(
                ("applicant",), "INVALID_VALUE",
                f"`applicant: {service.who_applies}` needs `actingAs`: which relationships may act for the dependent",
                "add e.g. `actingAs: [parent]` (parent, mandate, guardian)"))
        if service.login == "none":
            self.problems.append(self.source.problem(
                ("applicant",), "INVALID_VALUE",
                "acting for a dependent needs a signed-in citizen, but the service has `login: none`",
                "set `login: required`, or `applicant: self`"))

    def _reachability(self) -> None:
        for index, step in enumerate(self.service.steps):
            if isinstance(step, ExitStep | SubmitStep) and step.when is None:
                for later in range(index + 1, len(self.service.steps)):
                    self.problems.append(self.source.problem(
                        ("steps", later, "id"), "UNREACHABLE_STEP",
                        f"step '{self.service.steps[later].id}' can never run: step '{step.id}' before it "
                        f"always ends the application",
                        f"give step '{step.id}' a `when:` condition or remove this one"))
                return

    def _step(self, loc: Loc, step: Step) -> None:
        if step.compute:
            self._compute((*loc, "compute"), step.compute)
        if step.when is not None:
            self._expression((*loc, "when"), step.when)
        if isinstance(step, ExitStep):
            self._message((*loc, "message"), step.message)
        if isinstance(step, PaymentStep):
            self._amount((*loc, "amount"), step)
        if isinstance(step, ConsentStep):
            for index, code in enumerate(step.departments or ()):
                if self.known.departments_ok:
                    self._ref((*loc, "departments", index), code, "UNKNOWN_DEPARTMENT", "department",
                              self.known.departments)
            for index, ref in enumerate(step.items or ()):
                self._data_ref((*loc, "items", index), ref)
        if isinstance(step, PrefillStep):
            for index, ref in enumerate(step.items):
                if self._data_ref((*loc, "items", index), ref):
                    self.prefilled.add(ref)
            for index, predicate in enumerate(step.predicates):
                self._predicate((*loc, "predicates", index), predicate)
        elif isinstance(step, StepUpStep) and self.known.taxonomy_ok:
            self._ref((*loc, "assurance"), step.assurance, "UNKNOWN_ASSURANCE_LEVEL", "assurance level",
                      self.known.assurance)
        elif isinstance(step, AppointmentStep):
            later = self.service.steps[int(loc[-1]) + 1:]
            self.problems += check_appointment(self.source, loc, step, self.known.option_lists,
                                               lists_ok=self.known.lists_ok,
                                               submitted_later=any(isinstance(s, SubmitStep) for s in later))
        elif isinstance(step, SubmitStep) and step.department is not None and self.known.departments_ok:
            self._ref((*loc, "department"), step.department, "UNKNOWN_DEPARTMENT", "department",
                      self.known.departments)
        self._fields((*loc, "fields"), getattr(step, "fields", ()))

    def _amount(self, loc: Loc, step: PaymentStep) -> None:
        """A payment's amount: CEL over the answers, computed values and ``fees``; a positive number of dollars."""
        fees = {name: fee.amount for name, fee in (self.service.fees or {}).items()}
        if self.service.login != "required":
            self.problems.append(self.source.problem(
                (*loc[:-1], "type"), "INVALID_VALUE",
                "a payment step needs a logged-in citizen (the receipt and any refund name who paid), but the "
                "service has `login: none`", "set `login: required`"))
        known = [_present(computed) | {FEES_VARIABLE: fees} for computed in self.computed]
        samples = [known[0] | sample_context(self.answers), known[1] | sample_context(self.fractional)]
        issues = step.amount.check(samples, self.answers.keys(), computed=[*self.computed[0], FEES_VARIABLE],
                                   boolean=False)
        for issue in issues:
            self.problems.append(self.source.problem(loc, issue.code, issue.message, issue.hint))
        if issues:
            return
        for name in _fee_references(step.amount.source):
            if name not in fees:
                self.problems.append(unknown(self.source, loc, "UNKNOWN_REFERENCE", "fee", name, fees))
                return
        for sample in samples:
            value = step.amount.sample_result(sample)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problems.append(self.source.problem(
                    loc, "CEL_TYPE_ERROR", f"the amount '{step.amount.source}' yields {type(value).__name__}, "
                    "not a number of HK dollars", "write a number, or an expression such as fees.oneYear"))
                return
            if not 0 < value <= MAX_FEE and not step.amount.variables() - {FEES_VARIABLE}:
                # Only a fixed amount is wrong for sure; a computed one depends on the real answers.
                self.problems.append(self.source.problem(
                    loc, "INVALID_VALUE", f"the amount is {value}; a fee is more than 0 and at most {MAX_FEE:,.0f}",
                    "charge a positive amount of HK dollars"))
                return

    def _predicate(self, loc: Loc, predicate: Predicate) -> None:
        if predicate.id in self.predicates:
            self.problems.append(self.source.problem((*loc, "id"), "DUPLICATE_ID",
                                                     f"predicate '{predicate.id}' is already asked for"))
        self.predicates.add(predicate.id)
        if not self._data_ref((*loc, "over"), predicate.over) or not self.known.departments_ok:
            return
        provider_id, _, item_id = predicate.over.partition(".")
        item = self.known.providers[provider_id].item(item_id.split(".")[0])
        assert item is not None  # _data_ref found it
        if not item.authoritative:
            self.problems.append(self.source.problem(
                (*loc, "over"), "INVALID_VALUE", f"'{predicate.over}' is not marked authoritative",
                "a predicate vouches for a fact: read it from the record that is the source of truth "
                "(e.g. immd-records.date-of-birth)"))
        issue = sample_issue(predicate.check, item.type)
        if issue is not None:
            self.problems.append(self.source.problem((*loc, "check"), "CEL_TYPE_ERROR", issue,
                                                     "e.g. `check: age >= 65` over a date of birth"))

    def _data_ref(self, loc: Loc, ref: str) -> bool:
        """Whether ``provider.item`` exists (reporting it when not)."""
        provider_id, _, rest = ref.partition(".")
        item_id = rest.split(".")[0]
        if not self.known.departments_ok:
            return True
        provider = self.known.providers.get(provider_id)
        if provider is None:
            self.problems.append(unknown(self.source, loc, "UNKNOWN_PROVIDER", "provider", provider_id,
                                         self.known.providers))
            return False
        if provider.item(item_id) is None:
            self.problems.append(unknown(self.source, loc, "UNKNOWN_DATA_ITEM", f"data item of '{provider_id}'",
                                         item_id, (item.id for item in provider.items)))
            return False
        return True

    def _fields(self, loc: Loc, fields: tuple[Field, ...]) -> None:
        for index, item in enumerate(fields):
            self._field((*loc, index), item)

    def _field(self, loc: Loc, item: Field, entry: tuple[dict[str, Any], dict[str, Any]] | None = None) -> None:
        """One field; ``entry`` holds the samples of the earlier fields of the same group entry, inside a group."""
        if item.id in self.ids:
            self.problems.append(self.source.problem((*loc, "id"), "DUPLICATE_FIELD",
                                                     f"field id '{item.id}' is already used in this service",
                                                     "field ids are unique across the whole service"))
        self.ids.add(item.id)
        if item.when is not None:
            self._expression((*loc, "when"), item.when, entry=entry)
        if item.prefill is not None:
            self._prefill((*loc, "prefill"), item.prefill, item)
        self._options(loc, item)
        lists = self.known.option_lists
        values = (sample_value(item, lists, WHOLE), sample_value(item, lists, FRACTIONAL))
        for index, rule in enumerate(item.rules):
            self._expression((*loc, "rules", index, "check"), rule.check, values, rule=True, entry=entry)
            self._message((*loc, "rules", index, "message"), rule.message)
        if isinstance(item, GroupField):
            members: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
            for index, member in enumerate(item.fields):
                self._field((*loc, "fields", index), member, members)
                self.entry_of[member.id] = item.id
        if entry is not None:
            entry[0][item.id], entry[1][item.id] = values
        else:
            self.answers[item.id], self.fractional[item.id] = values

    def _prefill(self, loc: Loc, ref: str, item: Field) -> None:
        if "." not in ref:
            if ref not in self.predicates:
                self.problems.append(unknown(self.source, loc, "UNKNOWN_REFERENCE", "predicate", ref,
                                             self.predicates))
            elif item.type != "boolean":
                self.problems.append(self.source.problem(
                    loc, "INVALID_VALUE", f"predicate '{ref}' is true or false: show it in a boolean field"))
            return
        if not self._data_ref(loc, ref):
            return
        item_ref = ".".join(ref.split(".")[:2])
        if item_ref not in self.prefilled:
            self.problems.append(self.source.problem(
                loc, "UNKNOWN_DATA_ITEM", f"'{item_ref}' is not requested by an earlier prefill step",
                "list it in the items of a prefill step before this field"))

    def _options(self, loc: Loc, item: Field) -> None:
        lists = self.known.option_lists
        if isinstance(item, ChoiceField) and item.options:
            self.problems += duplicates(self.source, ((option.value, (*loc, "options", i, "value"))
                                                      for i, option in enumerate(item.options)), "option")
        if isinstance(item, ChoiceField) and item.option_list is not None:
            if item.options is not None:
                self.problems.append(self.source.problem((*loc, "options"), "INVALID_VALUE",
                                                         "give `options` or `optionList`, not both"))
            if self.known.lists_ok and item.option_list not in lists:
                self.problems.append(unknown(self.source, (*loc, "optionList"), "UNKNOWN_OPTION_LIST",
                                             "option list", item.option_list, lists))
        if isinstance(item, AddressField) and self.known.lists_ok and "districts" not in lists:
            self.problems.append(self.source.problem(loc, "UNKNOWN_OPTION_LIST",
                                                     "address fields need the 'districts' option list",
                                                     "define districts in option-lists.yaml"))


_FEE_REFERENCE = re.compile(rf"\b{FEES_VARIABLE}\s*\.\s*([A-Za-z_]\w*)")


def _fee_references(source: str) -> list[str]:
    return _FEE_REFERENCE.findall(source)
