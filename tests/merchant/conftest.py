from tests.merchant.support import app, fast_hasher  # noqa: F401 - fixtures
