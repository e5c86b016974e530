"""shoal's worker runtime.

Kept import-free so `shoal worker --pool gevent` can monkey-patch before anything else.
"""
