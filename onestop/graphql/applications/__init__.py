"""The applications domain: startApplication and the other citizen actions, application(id)."""

from onestop.graphql.applications.mutations import ApplicationsMutation as Mutation
from onestop.graphql.applications.queries import ApplicationsQuery as Query

__all__ = ["Mutation", "Query"]
