"""Service definitions: YAML in, one immutable, validated, versioned Catalogue out. Pure: no I/O at import."""

from onestop.catalogue.catalogue import Catalogue, load_catalogue
from onestop.catalogue.departments import Contact, DataItem, Department, Provider, Submission
from onestop.catalogue.expressions import Expression, ExpressionError
from onestop.catalogue.fees import CURRENCY, FEES_VARIABLE, MAX_FEE, Fee
from onestop.catalogue.fields import (
    DOCUMENT_KINDS,
    AddressField,
    BooleanField,
    ChoiceField,
    DateField,
    EmailField,
    Field,
    FileField,
    GroupField,
    HkidField,
    MultiChoiceField,
    NumberField,
    PhoneField,
    Rule,
    TextField,
    resolve_date_bound,
)
from onestop.catalogue.models import duration
from onestop.catalogue.problems import CatalogueError, Problem
from onestop.catalogue.services import Eligibility, Service, computations
from onestop.catalogue.steps import (
    AppointmentStep,
    ConsentStep,
    ExitStep,
    FormStep,
    PaymentStep,
    PrefillStep,
    ReviewStep,
    Step,
    StepKind,
    StepUpStep,
    SubmitStep,
)
from onestop.catalogue.taxonomy import AgeGroup, AssuranceLevel, Option, Taxonomy, Theme
from onestop.catalogue.text import Lang, LocalizedList, LocalizedText

__all__ = [
    "CURRENCY", "DOCUMENT_KINDS", "FEES_VARIABLE", "MAX_FEE", "AddressField", "AgeGroup", "AppointmentStep",
    "AssuranceLevel", "BooleanField", "Catalogue", "CatalogueError", "ChoiceField", "ConsentStep", "Contact",
    "DataItem", "DateField", "Department", "Eligibility", "EmailField", "ExitStep", "Expression", "ExpressionError",
    "Fee", "Field", "FileField", "FormStep", "GroupField", "HkidField", "Lang", "LocalizedList", "LocalizedText",
    "MultiChoiceField", "NumberField", "Option", "PaymentStep", "PhoneField", "PrefillStep", "Problem", "Provider",
    "ReviewStep", "Rule", "Service", "Step", "StepKind", "StepUpStep", "Submission", "SubmitStep", "Taxonomy",
    "TextField", "Theme", "computations", "duration", "load_catalogue", "resolve_date_bound",
]
