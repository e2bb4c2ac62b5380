"""onestop.graphql"""
