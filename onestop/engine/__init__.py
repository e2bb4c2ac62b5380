"""onestop.engine"""
