"""Fees: a service's fee table and the amount a payment step charges (a number, or CEL over the answers)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema, model_validator
from pydantic import Field as Key

from onestop.catalogue.expressions import Expression
from onestop.catalogue.models import DefinitionModel, Number
from onestop.catalogue.text import LocalizedText

CURRENCY = "HKD"
"""The one currency fees are charged in."""
MAX_FEE = 1_000_000.0
"""The largest amount one payment may charge, in dollars: a guard against a mistyped table or expression."""
FEES_VARIABLE = "fees"
"""The CEL variable a payment step's ``amount`` reads the service's fee table through (name -> dollars)."""


def _number_as_expression(value: Any) -> Any:
    # `amount: 70` is the constant expression `70.0`: one kind of value at run time, fixed or computed.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    return value


AmountExpression = Annotated[Expression, BeforeValidator(_number_as_expression), WithJsonSchema({
    "oneOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FEE},
              {"type": "string", "maxLength": 500}],
    "description": "HK dollars: a number, or a CEL expression over answers, computed values and `fees` "
                   "(e.g. 'answers.period == \"10\" ? fees.tenYear : fees.oneYear')"})]
FeeName = Annotated[str, Key(pattern=r"^[a-z][A-Za-z0-9]*$", max_length=64)]


class Fee(DefinitionModel):
    """One line of a service's fee table, in HK dollars."""

    amount: Number = Key(gt=0, le=MAX_FEE, description="HK dollars, at most two decimals")
    label: LocalizedText

    @model_validator(mode="after")
    def _cents(self) -> Fee:
        if round(self.amount, 2) != self.amount:
            raise ValueError(f"a fee is in dollars and cents: {self.amount} has more than two decimals")
        return self


FeeTable = dict[FeeName, Fee]
"""``fees:``: a service's fees by name; a payment step's ``amount`` reads them as ``fees.<name>``."""
