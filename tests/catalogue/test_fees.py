"""Fee tables and payment steps, as `onestop validate` checks them (file:line:col)."""

from __future__ import annotations

import pytest

from onestop.catalogue import PaymentStep

from .conftest import Tree, codes_at

FEES = """\
fees:
  tenYear: {amount: 900, label: {en: Ten years, tc: 十年}}
  oneYear: {amount: 70.5, label: {en: One year, tc: 一年}}
steps:
"""


def payment(amount: str, extra: str = "") -> str:
    return f"""\
  - id: fee
    type: payment
    title: {{en: Pay, tc: 繳費}}
    description: {{en: Licence fee, tc: 執照費}}
    amount: {amount}
{extra}  - id: submit
"""


def with_fee(tree: Tree, amount: str, extra: str = "", fees: str = FEES) -> None:
    tree.edit_service("steps:\n", fees)
    tree.edit_service("  - id: submit\n", payment(amount, extra))


def test_a_payment_step_with_a_computed_amount_from_the_fee_table_loads(tree: Tree) -> None:
    with_fee(tree, "'has(answers.years) && answers.years > 5.0 ? fees.tenYear : fees.oneYear'")
    service = tree.load().service("renew-licence")
    assert service is not None
    step = service.step("fee")
    assert isinstance(step, PaymentStep)
    assert (step.currency, step.refundable) == ("HKD", True)
    assert service.fees is not None
    assert service.fees["oneYear"].amount == 70.5


def test_a_fixed_amount_is_a_constant_expression(tree: Tree) -> None:
    with_fee(tree, "140", "    refundable: false\n")
    service = tree.load().service("renew-licence")
    assert service is not None
    step = service.step("fee")
    assert isinstance(step, PaymentStep)
    assert step.amount.source == "140.0"
    assert step.refundable is False


# The payment step's `amount:` value is on line 46, column 13, of the service; a syntax error points inside it.
@pytest.mark.parametrize(("amount", "code", "line", "col"), [
    ("fees.tenYears", "UNKNOWN_REFERENCE", 46, 13),
    ('"\\"nine hundred\\""', "CEL_TYPE_ERROR", 46, 13),
    ("answers.nothing", "UNKNOWN_REFERENCE", 46, 13),
    ("0", "INVALID_VALUE", 46, 13),
    ("2000000", "INVALID_VALUE", 46, 13),
    ("'fees.tenYear +'", "CEL_SYNTAX", 46, 28),
])
def test_a_bad_amount_is_refused_where_it_is_written(tree: Tree, amount: str, code: str, line: int,
                                                     col: int) -> None:
    with_fee(tree, amount)
    found = codes_at(tree.problems())
    assert ("renew-licence.yaml", line, col, code) in found, found


@pytest.mark.parametrize(("fees", "code"), [
    ("fees:\n  tenYear: {amount: -1, label: {en: A, tc: A}}\nsteps:\n", "INVALID_VALUE"),
    ("fees:\n  tenYear: {amount: 1.005, label: {en: A, tc: A}}\nsteps:\n", "INVALID_VALUE"),
    ("fees:\n  TenYear: {amount: 1, label: {en: A, tc: A}}\nsteps:\n", "INVALID_VALUE"),
    ("fees:\n  tenYear: {amount: 1, label: {en: A, tc: A}, vat: 1}\nsteps:\n", "UNKNOWN_KEY"),
])
def test_a_bad_fee_table_is_refused(tree: Tree, fees: str, code: str) -> None:
    with_fee(tree, "fees.tenYear", fees=fees)
    assert code in {p.code for p in tree.problems()}


def test_a_currency_other_than_hkd_is_refused(tree: Tree) -> None:
    with_fee(tree, "fees.tenYear", "    currency: USD\n")
    assert "INVALID_VALUE" in {p.code for p in tree.problems()}


def test_a_payment_step_needs_a_login(tree: Tree) -> None:
    tree.edit_service("assurance: standard\n", "login: none\nassurance: basic\n")
    tree.edit_service("""  - id: prefill
    type: prefill
    title: {en: Your details, tc: 你的資料}
    purpose: {en: To fill the form, tc: 填表}
    items: [td-licensing.driving-licence]
""", "")
    tree.edit_service("        prefill: td-licensing.driving-licence.number\n", "")
    tree.edit_service("  when: citizen.age >= 18\n", "  when: citizen.loggedIn || true\n")
    with_fee(tree, "fees.tenYear")
    assert any(p.code == "INVALID_VALUE" and "logged-in citizen" in p.message for p in tree.problems())
