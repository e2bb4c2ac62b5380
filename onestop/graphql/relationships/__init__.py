"""The relationships domain: grantMandate, revokeMandate, appointGuardian, endGuardianship and the staff's
guardianships (the viewer's dependents, mandates and dependents' access logs are on Viewer)."""

from onestop.graphql.relationships.mutations import RelationshipsMutation as Mutation
from onestop.graphql.relationships.queries import RelationshipsQuery as Query

__all__ = ["Mutation", "Query"]
