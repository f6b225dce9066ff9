"""Refusals of the accounts module, each with a stable public ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class AccountError(WalletError):
    code = "account_error"


class InvalidEmail(AccountError):
    code = "invalid_email"


class WeakPassword(AccountError):
    code = "weak_password"


class EmailTaken(AccountError):
    code = "email_taken"
    http_status = 409


class InvalidCredentials(AccountError):
    """Wrong e-mail or password; deliberately does not say which."""

    code = "invalid_credentials"
    http_status = 401


class LoginThrottled(AccountError):
    """Too many failures from this client for this account: wait and retry."""

    code = "login_throttled"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RoleNotAllowed(AccountError):
    """Self sign-up is for payers and merchants; admins are seeded."""

    code = "role_not_allowed"


class NotFound(AccountError):
    """No such object *of yours*: another user's ids look exactly the same."""

    code = "not_found"
    http_status = 404
