"""Import every module that declares tables, so the metadata is complete.

Alembic's env.py and the tests' ``create_all`` import this one module; a new
area with tables adds its models module here.
"""

import wallet.accounts.models
import wallet.chains.models
import wallet.compliance.models
import wallet.custody.models
import wallet.db.models
import wallet.rates.models
import wallet.risk.models  # noqa: F401
