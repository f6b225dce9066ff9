"""One TLS context per process for every outbound HTTP call.

httpx builds a new SSL context, loading certifi's CA bundle, for each
``httpx.Client`` and each module-level ``httpx.get``/``post``: about 30 ms
of CPU every time. Background sensors create clients on every tick, so
that cost was a large share of the platform's idle CPU. Passing
``verify=tls_context()`` keeps verification exactly as httpx does it (the
same CA bundle, hostname checks on) and builds the context once.
"""

from __future__ import annotations

import functools
import ssl

import certifi


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying client context httpx would build by default, made once."""
    return ssl.create_default_context(cafile=certifi.where())
