"""onestop.catalogue"""
