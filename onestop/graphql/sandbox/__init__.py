"""The sandbox domain: providers' staff upload definitions to their sandbox and read its versions."""

from onestop.graphql.sandbox.mutations import SandboxMutation as Mutation
from onestop.graphql.sandbox.queries import SandboxQuery as Query

__all__ = ["Mutation", "Query"]
