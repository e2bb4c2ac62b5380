"""The payments domain: beginPayment; a payment step's attempts show on Application.payments."""

from onestop.graphql.payments.mutations import PaymentsMutation as Mutation

__all__ = ["Mutation"]
