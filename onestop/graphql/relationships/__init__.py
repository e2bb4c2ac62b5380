"""The relationships domain: grantMandate, revokeMandate (viewer's dependents and mandates are on Viewer)."""

from onestop.graphql.relationships.mutations import RelationshipsMutation as Mutation

__all__ = ["Mutation"]
