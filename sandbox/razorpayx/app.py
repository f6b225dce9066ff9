"""The RazorpayX Payouts API stand-in: routes, validation and the payout clock.

See the package docstring (``sandbox/razorpayx/__init__.py``) for the
surface, the VPA test suffixes and the fault knobs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import re
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.faults import Faults
from sandbox.http import Request, Response, json_response
from sandbox.razorpayx.webhooks import WebhookDispatcher, WebhookUrlError

# "Make a Request Idempotent": 4-36 letters, digits, hyphens, underscores, spaces.
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_\- ]{4,36}$")
NARRATION_RE = re.compile(r"^[A-Za-z0-9 ]{1,30}$")
VPA_RE = re.compile(r"^[A-Za-z0-9.\-_]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$")
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
PURPOSES = {"refund", "cashback", "payout", "salary", "utility bill", "vendor bill"}
CONTACT_TYPES = {"vendor", "customer", "employee", "self"}
MODES = {"UPI", "IMPS", "NEFT", "RTGS"}
MIN_AMOUNT_PAISE = 100
UPI_MAX_PAISE = 10_000_000  # ₹1,00,000 per UPI payout
INVALID_VPA = "Invalid VPA. Please enter a valid Virtual Payment Address"
_BASE62 = string.digits + string.ascii_letters

# Webhook event per status ("Payouts Webhook Events"): processing is "initiated".
EVENTS = {
    "pending": "payout.pending",
    "queued": "payout.queued",
    "processing": "payout.initiated",
    "processed": "payout.processed",
    "failed": "payout.failed",
    "rejected": "payout.rejected",
    "reversed": "payout.reversed",
}
FINAL = {"failed", "rejected", "reversed", "cancelled"}
# Forced transitions accepted by /__sandbox/advance (what RazorpayX itself can do).
ALLOWED = {
    "pending": {"queued", "processing", "rejected"},
    "queued": {"processing", "cancelled"},
    "processing": {"processed", "failed", "reversed"},
    "processed": {"reversed"},
}
STATUS_DETAILS = {
    "pending": ("pending_approval", "Payout is pending approval from the approver(s).", "business"),
    "queued": (
        "low_balance",
        "Payout is queued as the account balance is insufficient. Add funds to process it.",
        "business",
    ),
    "processing": (
        "payout_bank_processing",
        "Payout is being processed by our partner bank. Please check the final status later.",
        "gateway",
    ),
    "processed": (
        "payout_processed",
        "Payout is processed and the amount has been credited to the beneficiary account.",
        "beneficiary_bank",
    ),
    "failed": (
        "beneficiary_bank_rejected",
        "Payout failed as the beneficiary bank rejected the transaction. Retry later.",
        "beneficiary_bank",
    ),
    "reversed": (
        "beneficiary_bank_reversal",
        "Payout was reversed by the beneficiary bank; the amount is credited back to you.",
        "beneficiary_bank",
    ),
    "rejected": ("rejected_by_approver", "Payout was rejected by the approver.", "business"),
    "cancelled": ("cancelled_by_user", "Payout was cancelled by the user.", "business"),
}


class ApiError(Exception):
    """A Razorpay error response: ``{"error": {"code", "description", ...}}``."""

    def __init__(
        self,
        description: str,
        *,
        field: str | None = None,
        status: int = 400,
        code: str = "BAD_REQUEST_ERROR",
        reason: str = "input_validation_failed",
        source: str = "business",
    ) -> None:
        super().__init__(description)
        self.description = description
        self.field = field
        self.status = status
        self.code = code
        self.reason = reason
        self.source = source

    def response(self) -> Response:
        return json_response(
            {
                "error": {
                    "code": self.code,
                    "description": self.description,
                    "source": self.source,
                    "step": None,
                    "reason": self.reason,
                    "metadata": {},
                    "field": self.field,
                }
            },
            self.status,
        )


def vpa_outcome(address: str) -> str:
    """The test outcome chosen by a VPA's username suffix (see package docstring)."""
    username = address.split("@", 1)[0].lower()
    for suffix, outcome in (
        ("invalid", "invalid"),
        ("failed", "fail"),
        ("fail", "fail"),
        ("reverse", "reverse"),
        ("slow", "slow"),
        ("reject", "reject"),
    ):
        if username.endswith(suffix):
            return outcome
    return "success"


def registered_name(address: str) -> str:
    """A deterministic "bank registered" name for a VPA: ``ravi.kumar@x`` → ``Ravi Kumar``."""
    username = address.split("@", 1)[0]
    words = [w for w in re.split(r"[._\-\d]+", username) if w]
    return " ".join(w.capitalize() for w in words) or "Upi User"


@dataclass
class Payout:
    id: str
    fund_account: dict[str, Any]
    amount: int
    mode: str
    purpose: str
    reference_id: str | None
    narration: str | None
    notes: dict[str, str]
    queue_if_low_balance: bool
    composite: bool
    outcome: str
    created_at: int
    seq: int
    status: str = "processing"
    utr: str | None = None
    fees: int = 0
    tax: int = 0
    debited: bool = False
    due: float | None = None  # monotonic time of the next automatic step
    reverse_after_processed: bool = False

    def entity(self) -> dict[str, Any]:
        """The payout as "Payouts Entity" describes it."""
        reason, description, source = STATUS_DETAILS[self.status]
        body: dict[str, Any] = {
            "id": self.id,
            "entity": "payout",
            "fund_account_id": self.fund_account["id"],
            "amount": self.amount,
            "currency": "INR",
            "notes": dict(self.notes),
            "fees": self.fees,
            "tax": self.tax,
            "status": self.status,
            "purpose": self.purpose,
            "utr": self.utr,
            "mode": self.mode,
            "reference_id": self.reference_id,
            "narration": self.narration,
            "batch_id": None,
            "status_details": {"reason": reason, "description": description, "source": source},
            "created_at": self.created_at,
            "fee_type": "",
        }
        if self.composite:
            body["fund_account"] = dict(self.fund_account)
        return body


@dataclass
class Config:
    key_id: str = "rzp_test_sandbox"
    # Sandbox defaults, equal to wallet/config.py's; not real secrets.
    key_secret: str = "sandbox-razorpayx-secret"  # noqa: S105
    webhook_secret: str = "sandbox-webhook-secret"  # noqa: S105
    account_number: str = "2323230000000000"
    account_id: str = ""
    balance_paise: int = 100_000_000  # ₹10,00,000
    process_delay_s: float = 0.5
    fee_paise: int = 0
    webhook_urls: list[str] = field(default_factory=list)
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 0.2
    seed: int = 0


Route = Callable[[Request, list[str]], Response]


class RazorpayXApp:
    """RazorpayX Payouts API (contacts, fund accounts, validations, payouts, balance)."""

    name = "razorpayx"

    def __init__(self, config: Config, faults: Faults, url: str) -> None:
        self.config = config
        self.faults = faults
        self.url = url
        self._rng = random.Random(config.seed)
        self._lock = threading.Condition(threading.RLock())
        self._knob_lock = threading.Lock()
        self._contacts: dict[str, dict[str, Any]] = {}
        self._fund_accounts: dict[str, dict[str, Any]] = {}
        self._validations: dict[str, dict[str, Any]] = {}
        self._payouts: dict[str, Payout] = {}
        self._idempotency: dict[str, tuple[str, str]] = {}  # key -> (canonical body, payout id)
        self._utrs: set[str] = set()
        self._ids: set[str] = set()
        self._seq = 0
        self.balance = config.balance_paise
        self.account_id = config.account_id or self._new_id("acc")
        self.webhooks = WebhookDispatcher(
            secret=config.webhook_secret,
            account_id=self.account_id,
            new_event_id=lambda: self._new_id("evt"),
            knob=self._take_knob,
            urls=config.webhook_urls,
            max_attempts=config.webhook_max_attempts,
            backoff_s=config.webhook_backoff_s,
        )
        self._stopped = False
        self._clock = threading.Thread(target=self._run_clock, name="razorpayx-clock", daemon=True)
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("POST", re.compile(r"^/v1/contacts$"), self._create_contact),
            ("GET", re.compile(r"^/v1/contacts$"), self._list_contacts),
            ("GET", re.compile(r"^/v1/contacts/([^/]+)$"), self._get_contact),
            ("POST", re.compile(r"^/v1/fund_accounts$"), self._create_fund_account),
            ("GET", re.compile(r"^/v1/fund_accounts$"), self._list_fund_accounts),
            ("POST", re.compile(r"^/v1/fund_accounts/validations$"), self._create_validation),
            ("GET", re.compile(r"^/v1/fund_accounts/validations/([^/]+)$"), self._get_validation),
            ("GET", re.compile(r"^/v1/fund_accounts/([^/]+)$"), self._get_fund_account),
            ("POST", re.compile(r"^/v1/payouts$"), self._create_payout),
            ("GET", re.compile(r"^/v1/payouts$"), self._list_payouts),
            ("GET", re.compile(r"^/v1/payouts/([^/]+)$"), self._get_payout),
            ("POST", re.compile(r"^/v1/payouts/([^/]+)/cancel$"), self._cancel_payout),
            ("GET", re.compile(r"^/v1/banking_balances$"), self._banking_balances),
        ]

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self.webhooks.start()
        self._clock.start()

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if self._clock.is_alive():
            self._clock.join(timeout=5)
        self.webhooks.close()

    def health(self) -> dict[str, Any]:
        c = self.config
        return {
            "ok": True,
            "head": None,
            "info": {
                "url": self.url,
                "credentials": {
                    "key_id": c.key_id,
                    "key_secret": c.key_secret,
                    "webhook_secret": c.webhook_secret,
                    "account_number": c.account_number,
                },
                "settings": {
                    "razorpayx_url": self.url,
                    "razorpayx_key_id": c.key_id,
                    "razorpayx_key_secret": c.key_secret,
                    "razorpayx_webhook_secret": c.webhook_secret,
                    "razorpayx_account_number": c.account_number,
                },
            },
        }

    # -- dispatch ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        try:
            for method, pattern, route in self._routes:
                match = pattern.match(path)
                if match and method == request.method:
                    self._authenticate(request)
                    return route(request, list(match.groups()))
            raise ApiError("The requested URL was not found on the server.", reason="url_not_found")
        except ApiError as exc:
            return exc.response()

    def _authenticate(self, request: Request) -> None:
        """ "Authentication": HTTP basic auth with the key id and key secret."""
        header = request.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        key_id, _, secret = decoded.partition(":")
        good_id = hmac.compare_digest(key_id.encode(), self.config.key_id.encode())
        good_secret = hmac.compare_digest(secret.encode(), self.config.key_secret.encode())
        if scheme.lower() != "basic" or not (good_id and good_secret):
            raise ApiError(
                "The api key provided is invalid", status=401, reason="authentication_failed"
            )

    # -- helpers -------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            while True:
                candidate = prefix + "_" + "".join(self._rng.choice(_BASE62) for _ in range(14))
                if candidate not in self._ids:
                    self._ids.add(candidate)
                    return candidate

    def _new_utr(self) -> str:
        """A 12-digit UPI reference number (RRN), unique within this sandbox."""
        while True:
            utr = "".join(self._rng.choice(string.digits) for _ in range(12))
            if utr not in self._utrs:
                self._utrs.add(utr)
                return utr

    def _take_knob(self, key: str) -> bool:
        """Consume a fault knob: booleans stay on, integers count down to zero."""
        with self._knob_lock:
            value = self.faults.extra(key)  # noqa: S610 - not Django
            if not value:
                return False
            if isinstance(value, int) and not isinstance(value, bool):
                extra = dict(self.faults.snapshot()["extra"])
                extra[key] = value - 1
                self.faults.configure(extra=extra)
            return True

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise ApiError("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError("The request body must be a JSON object.")
        return body

    @staticmethod
    def _str(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 255) -> Any:
        value = body.get(key)
        if value is None or value == "":
            if required:
                raise ApiError(f"The {key} field is required.", field=key)
            return None
        if not isinstance(value, str):
            raise ApiError(f"The {key} must be a string.", field=key)
        if len(value) > limit:
            raise ApiError(f"The {key} may not be greater than {limit} characters.", field=key)
        return value

    @staticmethod
    def _obj(body: dict[str, Any], key: str) -> dict[str, Any]:
        value = body.get(key)
        return value if isinstance(value, dict) else {}

    @staticmethod
    def _notes(body: dict[str, Any]) -> dict[str, str]:
        notes = body.get("notes") or {}
        if isinstance(notes, list) and not notes:
            return {}
        if not isinstance(notes, dict) or len(notes) > 15:
            raise ApiError("notes must be an object of at most 15 key-value pairs.", field="notes")
        for key, value in notes.items():
            if not isinstance(value, str | int) or len(str(value)) > 256:
                raise ApiError(f"notes.{key} must be a string of at most 256 chars.", field="notes")
        return {str(k): str(v) for k, v in notes.items()}

    def _lookup(self, table: dict[str, Any], entity_id: str) -> Any:
        found = table.get(entity_id)
        if found is None:
            raise ApiError("The id provided does not exist", field="id", reason="invalid_id")
        return found

    @staticmethod
    def _collection(items: list[dict[str, Any]], request: Request) -> Response:
        skip = int(request.arg("skip", "0") or 0)
        count = min(int(request.arg("count", "10") or 10), 100)
        page = items[skip : skip + count]
        return json_response({"entity": "collection", "count": len(page), "items": page})

    def _require_account(self, value: Any, field_name: str = "account_number") -> None:
        if value != self.config.account_number:
            raise ApiError("The account number is invalid.", field=field_name)

    # -- contacts ------------------------------------------------------------

    def _contact_from(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a contact, or return the existing one with identical details."""
        name = self._str(body, "name", required=True, limit=50)
        ctype = self._str(body, "type")
        if ctype is not None and ctype not in CONTACT_TYPES:
            raise ApiError("Invalid type: " + ctype, field="type")
        details = {
            "name": name,
            "email": self._str(body, "email"),
            "contact": self._str(body, "contact", limit=15),
            "type": ctype,
            "reference_id": self._str(body, "reference_id", limit=40),
        }
        notes = self._notes(body)
        with self._lock:
            for contact in self._contacts.values():
                if all(contact[k] == v for k, v in details.items()):
                    return contact
            contact = {
                "id": self._new_id("cont"),
                "entity": "contact",
                **details,
                "batch_id": None,
                "active": True,
                "notes": notes,
                "created_at": int(time.time()),
            }
            self._contacts[contact["id"]] = contact
            return contact

    def _create_contact(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Contacts: Create a Contact" POST /v1/contacts (same details: same contact)."""
        return json_response(self._contact_from(self._body(request)))

    def _list_contacts(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Contacts: Fetch All Contacts" GET /v1/contacts."""
        with self._lock:
            items = [
                c
                for c in reversed(self._contacts.values())
                if all(request.arg(k) in (None, c[k]) for k in ("name", "email", "reference_id"))
            ]
        return self._collection(items, request)

    def _get_contact(self, request: Request, ids: list[str]) -> Response:
        """RazorpayX "Contacts: Fetch a Contact by Id" GET /v1/contacts/:id."""
        with self._lock:
            return json_response(self._lookup(self._contacts, ids[0]))

    # -- fund accounts -------------------------------------------------------

    def _fund_account_from(self, body: dict[str, Any], contact_id: str) -> dict[str, Any]:
        """Create a fund account, or return the existing one with identical details."""
        account_type = body.get("account_type")
        if account_type == "vpa":
            vpa = self._obj(body, "vpa")
            address = self._str(vpa, "address", required=True)
            if not VPA_RE.match(address):
                raise ApiError(INVALID_VPA, field="vpa")
            username, _, handle = address.partition("@")
            details: dict[str, Any] = {
                "vpa": {"username": username, "handle": handle, "address": address}
            }
        elif account_type == "bank_account":
            bank = self._obj(body, "bank_account")
            ifsc = self._str(bank, "ifsc", required=True)
            number = self._str(bank, "account_number", required=True, limit=40)
            holder = self._str(bank, "name", required=True, limit=120)
            if not IFSC_RE.match(ifsc):
                raise ApiError("The ifsc must be a valid IFSC code.", field="ifsc")
            if not number.isdigit() or not 5 <= len(number) <= 35:
                raise ApiError("The account number must be 5-35 digits.", field="account_number")
            details = {
                "bank_account": {
                    "ifsc": ifsc,
                    "bank_name": ifsc[:4],
                    "name": holder,
                    "account_number": number,
                    "notes": [],
                }
            }
        else:
            raise ApiError("The account type must be vpa or bank_account.", field="account_type")
        with self._lock:
            self._lookup(self._contacts, contact_id)
            for fa in self._fund_accounts.values():
                same = all(fa.get(k) == v for k, v in details.items())
                if fa["contact_id"] == contact_id and same:
                    return fa
            fa = {
                "id": self._new_id("fa"),
                "entity": "fund_account",
                "contact_id": contact_id,
                "account_type": account_type,
                **details,
                "batch_id": None,
                "active": True,
                "created_at": int(time.time()),
            }
            self._fund_accounts[fa["id"]] = fa
            return fa

    def _create_fund_account(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Fund Accounts: Create a Fund Account" (VPA / bank account) POST /v1/fund_accounts."""  # noqa: E501
        body = self._body(request)
        contact_id = self._str(body, "contact_id", required=True)
        return json_response(self._fund_account_from(body, contact_id))

    def _list_fund_accounts(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Fund Accounts: Fetch All Fund Accounts" GET /v1/fund_accounts."""
        contact_id = request.arg("contact_id")
        with self._lock:
            items = [
                fa
                for fa in reversed(self._fund_accounts.values())
                if contact_id in (None, fa["contact_id"])
            ]
        return self._collection(items, request)

    def _get_fund_account(self, request: Request, ids: list[str]) -> Response:
        """RazorpayX "Fund Accounts: Fetch a Fund Account by Id" GET /v1/fund_accounts/:id."""
        with self._lock:
            return json_response(self._lookup(self._fund_accounts, ids[0]))

    # -- fund account validation --------------------------------------------

    def _create_validation(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Account Validation: Validate a VPA" POST /v1/fund_accounts/validations.

        Two documented request shapes: ``account_number`` + ``fund_account.id``
        (answered with ``results``) and the composite ``source_account_number``
        + inline ``fund_account`` with ``contact`` (answered with
        ``validation_results``). VPA validations complete at once.
        """
        body = self._body(request)
        spec = body.get("fund_account")
        if not isinstance(spec, dict):
            raise ApiError("The fund account field is required.", field="fund_account")
        composite = "id" not in spec
        if composite:
            self._require_account(body.get("source_account_number"), "source_account_number")
            contact_spec = spec.get("contact")
            if not isinstance(contact_spec, dict):
                raise ApiError("The contact field is required.", field="contact")
            contact = self._contact_from(contact_spec)
            fa = self._fund_account_from(spec, contact["id"])
        else:
            self._require_account(body.get("account_number"))
            with self._lock:
                fa = self._lookup(self._fund_accounts, str(spec["id"]))
        if fa["account_type"] == "vpa":
            address = fa["vpa"]["address"]
            valid = vpa_outcome(address) != "invalid"
            name = registered_name(address) if valid else None
        else:
            valid = not fa["bank_account"]["account_number"].endswith("0000")
            name = fa["bank_account"]["name"] if valid else None
        results = {"account_status": "active" if valid else "invalid", "registered_name": name}
        validation: dict[str, Any] = {
            "id": self._new_id("fav"),
            "entity": "fund_account.validation",
            "fund_account": fa,
            "status": "completed",
            "amount": None if fa["account_type"] == "vpa" else 100,
            "currency": "INR",
            "notes": self._notes(body),
            "created_at": int(time.time()),
            "utr": None,
        }
        if composite:
            validation["validation_results"] = {
                **results,
                "details": "The beneficiary account is valid"
                if valid
                else "The beneficiary account is invalid",
                "name_match_score": 100 if valid else 0,
            }
            validation["reference_id"] = self._str(body, "reference_id", limit=40)
        else:
            validation["results"] = results
        with self._lock:
            self._validations[validation["id"]] = validation
        return json_response(validation)

    def _get_validation(self, request: Request, ids: list[str]) -> Response:
        """RazorpayX "Account Validation: Fetch an Account Validation Transaction by Id"."""
        with self._lock:
            return json_response(self._lookup(self._validations, ids[0]))

    # -- payouts -------------------------------------------------------------

    def _create_payout(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Payouts: Create a Payout" (and "Payout Composite") POST /v1/payouts.

        Follows "Payout Idempotency: Make a Request Idempotent": the
        ``X-Payout-Idempotency`` header is mandatory (4-36 letters, digits,
        ``-``, ``_``, space); the same key with the same body returns the
        payout's latest state; the same key with a different body is a
        BAD_REQUEST. A different key always creates a new payout.
        """
        key = request.headers.get("X-Payout-Idempotency")
        if key is None:
            raise ApiError(
                "Idempotency key is missing. Include idempotency header and key in the request.",
                field="X-Payout-Idempotency",
            )
        if not IDEMPOTENCY_KEY_RE.match(key):
            raise ApiError(
                "Idempotency key is invalid. It must be 4-36 characters of letters, numbers, "
                "hyphens, underscores and spaces.",
                field="X-Payout-Idempotency",
            )
        body = self._body(request)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self._lock:
            seen = self._idempotency.get(key)
            if seen is not None:
                if seen[0] != canonical:
                    raise ApiError(
                        "Different request body sent for the same Idempotency Header",
                        field="X-Payout-Idempotency",
                    )
                return json_response(self._payouts[seen[1]].entity())
            payout = self._new_payout(body)
            self._idempotency[key] = (canonical, payout.id)
            events = self._start(payout)
        self._emit(events)
        return json_response(payout.entity())

    def _new_payout(self, body: dict[str, Any]) -> Payout:
        """Validate a create-payout body and build the payout (lock held)."""
        self._require_account(body.get("account_number"))
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ApiError("The amount must be an integer.", field="amount")
        if amount < MIN_AMOUNT_PAISE:
            raise ApiError(f"The amount must be at least {MIN_AMOUNT_PAISE}.", field="amount")
        if body.get("currency") != "INR":
            raise ApiError("The currency must be INR.", field="currency")
        mode = body.get("mode")
        if mode not in MODES:
            raise ApiError("The selected mode is invalid.", field="mode")
        purpose = self._str(body, "purpose", required=True, limit=30)
        if purpose not in PURPOSES:
            raise ApiError("The selected purpose is invalid.", field="purpose")
        reference_id = self._str(body, "reference_id", limit=40)
        narration = self._str(body, "narration", limit=30)
        if narration is not None and not NARRATION_RE.match(narration):
            raise ApiError(
                "The narration may only contain alphabets, numbers and spaces.", field="narration"
            )
        queue = body.get("queue_if_low_balance", False)
        if not isinstance(queue, bool):
            raise ApiError("queue_if_low_balance must be a boolean.", field="queue_if_low_balance")
        notes = self._notes(body)
        composite = isinstance(body.get("fund_account"), dict)
        if composite:
            spec = body["fund_account"]
            contact_spec = spec.get("contact")
            if not isinstance(contact_spec, dict):
                raise ApiError("The contact field is required.", field="contact")
            fa_check = dict(spec)
            self._check_fund_account_spec(fa_check)
        else:
            fa_id = self._str(body, "fund_account_id", required=True)
            fa = self._lookup(self._fund_accounts, fa_id)
        # Mode and outcome checks come before creating anything (bad input changes nothing).
        account_type = spec.get("account_type") if composite else fa["account_type"]
        if mode == "UPI" and account_type != "vpa":
            raise ApiError("UPI payouts need a fund account of type vpa.", field="mode")
        if mode != "UPI" and account_type != "bank_account":
            raise ApiError(f"{mode} payouts need a bank_account fund account.", field="mode")
        if mode == "UPI" and amount > UPI_MAX_PAISE:
            raise ApiError("The amount exceeds the UPI limit of 100000 INR.", field="amount")
        if composite:
            contact = self._contact_from(contact_spec)
            fa = self._fund_account_from(spec, contact["id"])
            fa = {**fa, "contact": contact}
        if fa["account_type"] == "vpa":
            outcome = vpa_outcome(fa["vpa"]["address"])
        else:
            outcome = "fail" if fa["bank_account"]["account_number"].endswith("0000") else "success"
        if outcome == "invalid":
            raise ApiError(
                INVALID_VPA,
                field="fund_account_id",
                reason="invalid_vpa",
            )
        fees = self.config.fee_paise
        total = amount + fees + fees * 18 // 100
        if total > self.balance and not queue and outcome != "reject":
            raise ApiError(
                "Your account does not have enough balance to carry out the payout operation.",
                reason="insufficient_balance",
            )
        self._seq += 1
        payout = Payout(
            id=self._new_id("pout"),
            fund_account=fa,
            amount=amount,
            mode=mode,
            purpose=purpose,
            reference_id=reference_id,
            narration=narration,
            notes=notes,
            queue_if_low_balance=queue,
            composite=composite,
            outcome=outcome,
            created_at=int(time.time()),
            seq=self._seq,
        )
        self._payouts[payout.id] = payout
        return payout

    def _check_fund_account_spec(self, spec: dict[str, Any]) -> None:
        """Validate an inline fund account without creating it (composite payouts)."""
        account_type = spec.get("account_type")
        if account_type == "vpa":
            vpa = self._obj(spec, "vpa")
            address = self._str(vpa, "address", required=True)
            if not VPA_RE.match(address):
                raise ApiError(INVALID_VPA, field="vpa")
        elif account_type != "bank_account":
            raise ApiError("The account type must be vpa or bank_account.", field="account_type")

    def _list_payouts(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Payouts: Fetch All Payouts" GET /v1/payouts (account_number required)."""
        self._require_account(request.arg("account_number"))
        filters = {
            "reference_id": request.arg("reference_id"),
            "fund_account_id": request.arg("fund_account_id"),
            "status": request.arg("status"),
            "mode": request.arg("mode"),
        }
        with self._lock:
            items = [
                p.entity()
                for p in sorted(self._payouts.values(), key=lambda p: -p.seq)
                if all(v is None or p.entity()[k] == v for k, v in filters.items())
            ]
        return self._collection(items, request)

    def _get_payout(self, request: Request, ids: list[str]) -> Response:
        """RazorpayX "Payouts: Fetch a Payout by Id" GET /v1/payouts/:id."""
        with self._lock:
            return json_response(self._lookup(self._payouts, ids[0]).entity())

    def _cancel_payout(self, request: Request, ids: list[str]) -> Response:
        """RazorpayX "Payouts: Cancel a Queued Payout" POST /v1/payouts/:id/cancel."""
        with self._lock:
            payout = self._lookup(self._payouts, ids[0])
            if payout.status != "queued":
                raise ApiError(
                    "Only queued payouts can be cancelled.", field="id", reason="invalid_status"
                )
            events = self._transition(payout, "cancelled")
            entity = payout.entity()
        self._emit(events)
        return json_response(entity)

    def _banking_balances(self, request: Request, _: list[str]) -> Response:
        """RazorpayX "Fetch Balance" GET /v1/banking_balances (the platform's INR float)."""
        with self._lock:
            balance = self.balance
        item = {
            "entity": "banking_balance",
            "currency": "INR",
            "account_number": self.config.account_number,
            "account_type": "current_account",
            "bank_name": "Sandbox Bank",
            "bank_code": "SBOX",
            "amount": balance,
            "available_amount": balance,
            "refreshed_at": int(time.time()),
        }
        return json_response({"entity": "collection", "count": 1, "items": [item]})

    # -- the payout state machine (all called with self._lock held) ----------

    def _start(self, payout: Payout) -> list[tuple[str, dict[str, Any], bool]]:
        """Place a new payout in its first state."""
        if payout.outcome == "reject" or self._take_knob("approval_workflow"):
            payout.status = "pending"
            events = [self._event(payout)]
            payout.due = time.monotonic() + self.config.process_delay_s
            self._lock.notify_all()
            return events
        return self._fund(payout)

    def _fund(self, payout: Payout) -> list[tuple[str, dict[str, Any], bool]]:
        """Debit the float and start processing, or queue for lack of balance."""
        fees = self.config.fee_paise
        total = payout.amount + fees + fees * 18 // 100
        if total > self.balance or self._queued_ahead_of(payout):
            was_queued = payout.status == "queued"
            payout.status, payout.due = "queued", None
            return [] if was_queued else [self._event(payout)]
        self.balance -= total
        payout.debited = True
        payout.fees, payout.tax = fees, fees * 18 // 100
        payout.status = "processing"
        payout.due = None if payout.outcome == "slow" else time.monotonic() + self._delay()
        self._lock.notify_all()
        return [self._event(payout)]

    def _queued_ahead_of(self, payout: Payout) -> bool:
        """FIFO: an earlier queued payout that fits goes first."""
        return any(
            p.status == "queued" and p.seq < payout.seq and p.amount <= self.balance
            for p in self._payouts.values()
        )

    def _delay(self) -> float:
        return self.config.process_delay_s * self._rng.uniform(0.6, 1.0)

    def _transition(self, payout: Payout, status: str) -> list[tuple[str, dict[str, Any], bool]]:
        """Move ``payout`` to ``status`` with its money effects; returns webhooks to send."""
        if status == "processing":
            return self._fund(payout)  # funding decides between processing and queued
        if status == "queued":
            payout.status, payout.due = "queued", None
            return [self._event(payout)]
        events: list[tuple[str, dict[str, Any], bool]] = []
        if status == "reversed" and payout.status == "processing":
            payout.status, payout.utr = "processed", self._new_utr()
            events.append(self._event(payout))
        if status == "processed":
            payout.utr = payout.utr or self._new_utr()
            payout.due = None
            if payout.outcome == "reverse" or self._take_knob("reverse_next"):
                payout.reverse_after_processed = True
                payout.due = time.monotonic() + self._delay()
                self._lock.notify_all()
        else:
            payout.due = None
        if status in {"failed", "reversed"} and payout.debited:
            # Failed and reversed payouts return amount, fees and tax to the float.
            self.balance += payout.amount + payout.fees + payout.tax
            payout.debited = False
        payout.status = status
        events.append(self._event(payout))
        if status in {"failed", "reversed", "cancelled"}:
            events += self._drain_queue()
        return events

    def _drain_queue(self) -> list[tuple[str, dict[str, Any], bool]]:
        events: list[tuple[str, dict[str, Any], bool]] = []
        for payout in sorted(self._payouts.values(), key=lambda p: p.seq):
            if payout.status == "queued":
                events += self._fund(payout)
        return events

    def _step(self, payout: Payout) -> list[tuple[str, dict[str, Any], bool]]:
        """The automatic next step of a payout whose ``due`` time has come."""
        if payout.status == "pending":
            if payout.outcome == "reject":
                return self._transition(payout, "rejected")
            return self._transition(payout, "processing")
        if payout.status == "processing":
            return self._transition(payout, "failed" if payout.outcome == "fail" else "processed")
        if payout.status == "processed" and payout.reverse_after_processed:
            return self._transition(payout, "reversed")
        payout.due = None
        return []

    def _event(self, payout: Payout) -> tuple[str, dict[str, Any], bool]:
        final = payout.status in FINAL or (
            payout.status == "processed" and not payout.reverse_after_processed
        )
        return (payout.status, payout.entity(), final)

    def _emit(self, events: list[tuple[str, dict[str, Any], bool]]) -> None:
        for status, entity, final in events:
            name = EVENTS.get(status)
            if name is not None:
                self.webhooks.emit(name, entity, final=final)

    def _run_clock(self) -> None:
        """Advance due payouts; sleeps until the next due time (idle costs nothing)."""
        while True:
            with self._lock:
                if self._stopped:
                    return
                now = time.monotonic()
                events: list[tuple[str, dict[str, Any], bool]] = []
                for payout in sorted(self._payouts.values(), key=lambda p: p.seq):
                    if payout.due is not None and payout.due <= now:
                        events += self._step(payout)
                dues = [p.due for p in self._payouts.values() if p.due is not None]
                if not events:
                    timeout = max(min(dues) - now, 0.001) if dues else None
                    self._lock.wait(timeout=timeout)
            self._emit(events)

    # -- admin ---------------------------------------------------------------

    def admin(self, request: Request) -> Response | None:
        try:
            if request.path == "/__sandbox/webhooks":
                return self._admin_webhooks(request)
            if request.path == "/__sandbox/topup" and request.method == "POST":
                return self._admin_topup(request)
            if request.path == "/__sandbox/balance":
                with self._lock:
                    balance = self.balance
                return json_response(
                    {"account_number": self.config.account_number, "balance": balance}
                )
            if request.path == "/__sandbox/advance" and request.method == "POST":
                return self._admin_advance(request)
        except (ApiError, WebhookUrlError) as exc:
            return json_response({"error": str(exc)}, 400)
        return None

    def _admin_webhooks(self, request: Request) -> Response:
        """Set (POST {"url"} or {"urls"}) or read the webhook URLs and the delivery log."""
        if request.method == "POST":
            body = self._body(request)
            urls = body.get("urls", [body["url"]] if body.get("url") else [])
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ApiError("urls must be a list of strings")
            self.webhooks.set_urls(urls)
        return json_response({"urls": self.webhooks.urls, "deliveries": self.webhooks.deliveries()})

    def _admin_topup(self, request: Request) -> Response:
        """Add funds to the float (paise); queued payouts then process in FIFO order."""
        amount = self._body(request).get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ApiError("amount must be a positive integer number of paise")
        with self._lock:
            self.balance += amount
            events = self._drain_queue()
            balance = self.balance
        self._emit(events)
        return json_response({"account_number": self.config.account_number, "balance": balance})

    def _admin_advance(self, request: Request) -> Response:
        """Force a payout to ``status`` (only transitions RazorpayX itself makes)."""
        body = self._body(request)
        status = body.get("status")
        with self._lock:
            payout = self._lookup(self._payouts, str(body.get("payout_id")))
            if status not in ALLOWED.get(payout.status, set()):
                raise ApiError(f"cannot move a {payout.status} payout to {status!r}")
            events = self._transition(payout, status)
            entity = payout.entity()
        self._emit(events)
        return json_response(entity)
