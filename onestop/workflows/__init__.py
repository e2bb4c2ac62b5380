"""onestop.workflows"""
