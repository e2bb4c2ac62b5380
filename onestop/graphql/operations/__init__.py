"""The operations domain: securityAlerts, systemHealth, acknowledgeAlert, resolveAlert (operators) and
answerSecurityAlert (citizens; their alerts are read through viewer { securityAlerts })."""

from onestop.graphql.operations.mutations import OperationsMutation as Mutation
from onestop.graphql.operations.queries import OperationsQuery as Query

__all__ = ["Mutation", "Query"]
