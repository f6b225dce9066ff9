"""Import every module that declares tables, so the metadata is complete.

Alembic's env.py and the tests' ``create_all`` import this one module; a new
area with tables adds its models module here (the push subscriptions table
lives in wallet.notifications; webapp.pay.models re-exports it).
"""

import wallet.accounts.models
import wallet.admin.models
import wallet.alerts.models
import wallet.chains.models
import wallet.compliance.models
import wallet.custody.models
import wallet.db.models
import wallet.merchants.models
import wallet.notifications.models
import wallet.rates.models
import wallet.risk.models
import wallet.settlement.models  # noqa: F401
