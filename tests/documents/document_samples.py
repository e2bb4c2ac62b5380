"""Sample files for the document tests."""

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
"""The EICAR anti-virus test file: harmless, and detected by every scanner as if it were malware."""
