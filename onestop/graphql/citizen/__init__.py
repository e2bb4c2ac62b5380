"""The citizen domain: viewer { profile consents dataAccessLog personalData }, updateProfile, revokeConsent."""

from onestop.graphql.citizen.mutations import CitizenMutation as Mutation
from onestop.graphql.citizen.queries import CitizenQuery as Query

__all__ = ["Mutation", "Query"]
