"""Local stand-ins for the outside world, each a real server on 127.0.0.1.

Every stand-in speaks its provider's wire protocol so the product's real
clients are exercised exactly as in production; only the URL and key differ.
Each one also serves ``/__sandbox/health`` and ``/__sandbox/faults`` for the
manager and for fault injection.
"""
