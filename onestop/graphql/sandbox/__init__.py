"""The sandbox domain: providers' staff upload definitions to their sandbox, read its versions, and ask that a
tested service go live; the platform team decides."""

from strawberry.tools import merge_types

from onestop.graphql.sandbox.mutations import SandboxMutation
from onestop.graphql.sandbox.promotions import PromotionMutation, PromotionQuery
from onestop.graphql.sandbox.queries import SandboxQuery

Mutation = merge_types("SandboxMutation", (SandboxMutation, PromotionMutation))
Query = merge_types("SandboxQuery", (SandboxQuery, PromotionQuery))

__all__ = ["Mutation", "Query"]
