"""A small typed client for the RazorpayX Payouts API (the official SDK has none).

Endpoints follow RazorpayX's public API reference: Contacts, Fund Accounts
(type ``vpa`` and ``bank_account``), Account Validation (composite VPA
validation), Payouts (create, fetch, fetch all by ``reference_id``) and
Fetch Balance (``/v1/banking_balances``). Amounts are integer paise.

Idempotency ("Payout Idempotency"): every create-payout call carries the
caller's ``X-Payout-Idempotency`` key. On an ambiguous outcome — timeout,
dropped connection, 429 or 5xx — the client resends the SAME bytes with the
SAME key, so RazorpayX maps every attempt to one payout and returns its
latest state. It never invents a new key: a new key while the first payout
is processing creates a second payout. When retries run out the client
raises :class:`PayoutOutcomeUnknown`; the caller keeps the key and retries
later (or reads :meth:`RazorpayXClient.find_payouts` by ``reference_id``).
It does not silently pick a payout by ``reference_id`` itself, because
several attempts for one payment share that reference.
"""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from wallet.http import tls_context
from wallet.payouts.errors import (
    PayoutAuthError,
    PayoutError,
    PayoutIdempotencyConflict,
    PayoutInsufficientBalance,
    PayoutInvalidRequest,
    PayoutInvalidVpa,
    PayoutNotFound,
    PayoutOutcomeUnknown,
)
from wallet.payouts.status import PayoutStatus

if TYPE_CHECKING:
    from wallet.config import Settings

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_\- ]{4,36}$")
VPA_RE = re.compile(r"^[A-Za-z0-9.\-_]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$")
MIN_PAYOUT_PAISE = 100
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class PayoutMode(enum.StrEnum):
    UPI = "UPI"
    IMPS = "IMPS"  # fallback to a bank account when the VPA is rejected


@dataclass(frozen=True)
class StatusDetails:
    """Why a payout is in its state (RazorpayX "Payout Status Details")."""

    reason: str | None
    description: str | None
    source: str | None


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    reference_id: str | None


@dataclass(frozen=True)
class FundAccount:
    id: str
    contact_id: str
    account_type: str  # "vpa" | "bank_account"
    vpa: str | None


@dataclass(frozen=True)
class VpaValidation:
    """Result of validating a VPA: whether it exists and whose name it carries."""

    vpa: str
    fund_account_id: str
    account_status: str | None  # "active" | "invalid" | None while pending
    registered_name: str | None

    @property
    def valid(self) -> bool:
        return self.account_status in {"active", "valid"}


@dataclass(frozen=True)
class Payout:
    """A RazorpayX payout as last reported (by the API or a webhook)."""

    id: str
    status: PayoutStatus
    amount_paise: int
    currency: str
    mode: str
    purpose: str | None
    fund_account_id: str
    reference_id: str | None
    utr: str | None
    fees_paise: int
    tax_paise: int
    status_details: StatusDetails | None
    created_at: datetime
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Payout:
        """Parse a payout entity; refuses shapes that would hide money errors."""
        try:
            amount = data["amount"]
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise TypeError("amount is not an integer")
            details = data.get("status_details")
            notes = data.get("notes") or {}
            return cls(
                id=str(data["id"]),
                status=PayoutStatus(data["status"]),
                amount_paise=amount,
                currency=str(data["currency"]),
                mode=str(data["mode"]),
                purpose=data.get("purpose"),
                fund_account_id=str(data["fund_account_id"]),
                reference_id=data.get("reference_id"),
                utr=data.get("utr") or None,
                fees_paise=int(data.get("fees") or 0),
                tax_paise=int(data.get("tax") or 0),
                status_details=StatusDetails(
                    details.get("reason"), details.get("description"), details.get("source")
                )
                if isinstance(details, dict)
                else None,
                created_at=datetime.fromtimestamp(int(data["created_at"]), UTC),
                notes={str(k): str(v) for k, v in notes.items()} if isinstance(notes, dict) else {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PayoutError(
                f"unexpected payout entity from RazorpayX: {exc}",
                code="payout_unexpected_response",
            ) from exc


class RazorpayXClient:
    """RazorpayX Payouts over HTTP with basic auth; safe to retry by construction."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        key_secret: str,
        account_number: str,
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_s: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.account_number = account_number
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(key_id, key_secret),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
            verify=tls_context(),
            trust_env=False,  # never route payouts through an ambient proxy
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> RazorpayXClient:
        return cls(
            settings.razorpayx_url,
            settings.razorpayx_key_id.get_secret_value(),
            settings.razorpayx_key_secret.get_secret_value(),
            settings.razorpayx_account_number,
            **kwargs,
        )

    def __repr__(self) -> str:  # keeps credentials out of logs and tracebacks
        return f"RazorpayXClient({self._http.base_url!s})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RazorpayXClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- contacts and fund accounts -----------------------------------------

    def create_contact(
        self,
        name: str,
        *,
        contact_type: str = "vendor",
        reference_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Contact:
        """Contacts: Create a Contact (RazorpayX returns the existing one for identical details)."""
        body: dict[str, Any] = {"name": name, "type": contact_type}
        for key, value in (("reference_id", reference_id), ("email", email), ("contact", phone)):
            if value is not None:
                body[key] = value
        data = self._request("POST", "/v1/contacts", body=body)
        return Contact(str(data["id"]), str(data["name"]), data.get("reference_id"))

    def create_fund_account_vpa(self, contact_id: str, vpa: str) -> FundAccount:
        """Fund Accounts: Create a Fund Account of type VPA (deduplicated by RazorpayX)."""
        _check_vpa(vpa)
        body = {"contact_id": contact_id, "account_type": "vpa", "vpa": {"address": vpa}}
        return _fund_account(self._request("POST", "/v1/fund_accounts", body=body))

    def create_fund_account_bank(
        self, contact_id: str, *, name: str, ifsc: str, account_number: str
    ) -> FundAccount:
        """Fund Accounts: Create a Fund Account of type bank account (for IMPS fallback)."""
        body = {
            "contact_id": contact_id,
            "account_type": "bank_account",
            "bank_account": {"name": name, "ifsc": ifsc, "account_number": account_number},
        }
        return _fund_account(self._request("POST", "/v1/fund_accounts", body=body))

    def validate_vpa(
        self, vpa: str, *, contact_name: str, reference_id: str | None = None
    ) -> VpaValidation:
        """Account Validation (composite): create contact + VPA fund account and validate it."""
        _check_vpa(vpa)
        body: dict[str, Any] = {
            "source_account_number": self.account_number,
            "fund_account": {
                "account_type": "vpa",
                "vpa": {"address": vpa},
                "contact": {"name": contact_name, "type": "vendor"},
            },
        }
        if reference_id is not None:
            body["reference_id"] = reference_id
        data = self._request("POST", "/v1/fund_accounts/validations", body=body)
        results = data.get("validation_results") or data.get("results") or {}
        return VpaValidation(
            vpa=vpa,
            fund_account_id=str(data["fund_account"]["id"]),
            account_status=results.get("account_status"),
            registered_name=results.get("registered_name"),
        )

    # -- payouts -------------------------------------------------------------

    def create_payout(
        self,
        *,
        amount_paise: int,
        reference_id: str,
        idempotency_key: str,
        fund_account_id: str | None = None,
        vpa: str | None = None,
        contact_name: str | None = None,
        mode: PayoutMode = PayoutMode.UPI,
        purpose: str = "payout",
        narration: str | None = None,
        notes: Mapping[str, str] | None = None,
        queue_if_low_balance: bool = True,
    ) -> Payout:
        """Payouts: Create a Payout (or Payout Composite when ``vpa`` is given).

        Give exactly one of ``fund_account_id`` or ``vpa`` (+ ``contact_name``).
        ``idempotency_key`` is the caller's attempt id, recorded before this
        call; retries inside reuse it with byte-identical bodies.
        """
        if isinstance(amount_paise, bool) or not isinstance(amount_paise, int):
            raise PayoutInvalidRequest("amount_paise must be an integer", code="invalid_amount")
        if amount_paise < MIN_PAYOUT_PAISE:
            raise PayoutInvalidRequest(
                f"payouts are at least {MIN_PAYOUT_PAISE} paise", code="invalid_amount"
            )
        if not IDEMPOTENCY_KEY_RE.match(idempotency_key):
            raise PayoutInvalidRequest(
                "idempotency keys are 4-36 letters, digits, '-', '_' or spaces",
                code="payout_invalid_idempotency_key",
            )
        if (fund_account_id is None) == (vpa is None):
            raise PayoutInvalidRequest("give exactly one of fund_account_id or vpa")
        body: dict[str, Any] = {
            "account_number": self.account_number,
            "amount": amount_paise,
            "currency": "INR",
            "mode": str(mode),
            "purpose": purpose,
            "queue_if_low_balance": queue_if_low_balance,
            "reference_id": reference_id,
        }
        if vpa is None:
            body["fund_account_id"] = fund_account_id
        else:
            _check_vpa(vpa)
            if not contact_name:
                raise PayoutInvalidRequest("a composite payout needs contact_name")
            body["fund_account"] = {
                "account_type": "vpa",
                "vpa": {"address": vpa},
                "contact": {"name": contact_name, "type": "vendor", "reference_id": reference_id},
            }
        if narration is not None:
            body["narration"] = narration
        if notes:
            body["notes"] = dict(notes)
        data = self._request(
            "POST",
            "/v1/payouts",
            body=body,
            headers={"X-Payout-Idempotency": idempotency_key},
            idempotency_key=idempotency_key,
        )
        return Payout.from_api(data)

    def get_payout(self, payout_id: str) -> Payout:
        """Payouts: Fetch a Payout by Id."""
        return Payout.from_api(self._request("GET", f"/v1/payouts/{payout_id}"))

    def find_payouts(self, reference_id: str) -> list[Payout]:
        """Payouts: Fetch All Payouts filtered by ``reference_id`` (newest first, all pages)."""
        found: list[Payout] = []
        page = 100
        while True:
            params = {
                "account_number": self.account_number,
                "reference_id": reference_id,
                "count": str(page),
                "skip": str(len(found)),
            }
            data = self._request("GET", "/v1/payouts", params=params)
            items = data.get("items") or []
            found.extend(Payout.from_api(item) for item in items)
            if len(items) < page:
                return found

    def get_balance_paise(self) -> int:
        """Fetch Balance: the available balance of our payout account, in paise."""
        data = self._request("GET", "/v1/banking_balances")
        for item in data.get("items") or []:
            if item.get("account_number") == self.account_number:
                amount = item.get("available_amount", item.get("amount"))
                if isinstance(amount, bool) or not isinstance(amount, int):
                    raise PayoutError("balance is not paise", code="payout_unexpected_response")
                return amount
        raise PayoutNotFound(f"no balance reported for account ending {self.account_number[-4:]}")

    # -- transport -----------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send with bounded retries on ambiguous outcomes; same bytes every attempt."""
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        last: str = "no attempt made"
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._http.request(
                    method, path, content=content, params=params, headers=headers
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return _decode(response)
                last = f"HTTP {response.status_code}"
            if attempt < self._max_attempts:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
        message = f"RazorpayX {method} {path}: no answer in {self._max_attempts} attempts ({last})"
        if method == "GET":
            raise PayoutError(message, code="payout_provider_unavailable")
        raise PayoutOutcomeUnknown(message, idempotency_key=idempotency_key)


def _check_vpa(vpa: str) -> None:
    if not VPA_RE.match(vpa):
        raise PayoutInvalidVpa(f"not a VPA: {vpa!r}")


def _fund_account(data: Mapping[str, Any]) -> FundAccount:
    vpa = data.get("vpa")
    return FundAccount(
        id=str(data["id"]),
        contact_id=str(data["contact_id"]),
        account_type=str(data["account_type"]),
        vpa=vpa.get("address") if isinstance(vpa, dict) else None,
    )


def _decode(response: httpx.Response) -> dict[str, Any]:
    """Return the JSON body of a success, or raise the typed error for a failure."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success and isinstance(data, dict):
        return data
    if response.is_success:
        raise PayoutError("RazorpayX answered with a non-object", code="payout_unexpected_response")
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    description = str(error.get("description") or f"HTTP {response.status_code}")
    reason = error.get("reason")
    field_name = error.get("field")
    lowered = description.lower()
    kind: type[PayoutError] = PayoutInvalidRequest
    if response.status_code == 401:
        kind, description = PayoutAuthError, "RazorpayX refused the API key"
    elif field_name == "X-Payout-Idempotency":
        kind = PayoutIdempotencyConflict
    elif reason == "invalid_vpa" or "invalid vpa" in lowered:
        kind = PayoutInvalidVpa
    elif reason == "insufficient_balance" or "enough balance" in lowered:
        kind = PayoutInsufficientBalance
    elif "does not exist" in lowered:
        kind = PayoutNotFound
    raise kind(
        description,
        provider_code=error.get("code"),
        reason=reason,
        field=field_name,
        status=response.status_code,
    )
