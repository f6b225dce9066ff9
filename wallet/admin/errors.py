"""Refusals of admin actions, each with a stable public ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class AdminError(WalletError):
    code = "admin_error"


class NotAnAdmin(AdminError):
    code = "forbidden"
    http_status = 403


class SecondAdminRequired(AdminError):
    """The two-admin rule: the requester cannot approve their own request."""

    code = "second_admin_required"
    http_status = 403


class ApprovalNotPending(AdminError):
    code = "approval_not_pending"
    http_status = 409


class AdminNotFound(AdminError):
    code = "not_found"
    http_status = 404


class ActionRefused(AdminError):
    code = "action_refused"
    http_status = 409
