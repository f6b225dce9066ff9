"""Request and response bodies of the REST API (pydantic, JSON Schema 2020-12).

Requests are strict: unknown fields are refused (no mass assignment of
``role`` beyond the allowed values, nor of ``kyc_tier``, ``status`` …), and
types are not coerced (``"amount": 1.5`` is not a string). Amounts are
decimal strings, ``*_minor`` fields integer strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=4096)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ------------------------------------------------------------------


class ErrorDetail(_Response):
    field: str = Field(description="Dotted path of the offending field.")
    code: str = Field(description="unknown_field | missing_field | invalid_field")
    message: str


class ErrorBody(_Response):
    code: str = Field(description="Stable machine-readable code, e.g. `validation_error`.")
    message: str = Field(description="Human-readable explanation.")
    details: list[ErrorDetail] | None = None


class ErrorResponse(_Response):
    error: ErrorBody


# --- auth ----------------------------------------------------------------------


class SignupRequest(_Request):
    email: str = Field(min_length=3, max_length=254, examples=["asha@example.com"])
    password: str = Field(min_length=1, max_length=256, description="At least 10 characters.")
    role: Literal["payer", "merchant"] = "payer"


class TokenRequest(_Request):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=100, description="A label for the token.")


class UserOut(_Response):
    id: int
    email: str
    role: Literal["payer", "merchant", "admin"]


class SignupResponse(_Response):
    user: UserOut
    token: str = Field(description="Bearer token, shown once. Store it; we keep only a hash.")


class TokenResponse(_Response):
    token: str = Field(description="Bearer token, shown once.")


class TokenOut(_Response):
    id: int
    name: str
    prefix: str = Field(description="First characters of the token, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class TokenList(_Response):
    tokens: list[TokenOut]


class SessionOut(_Response):
    id: int
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


class SessionList(_Response):
    sessions: list[SessionOut]


class LogoutEverywhereResponse(_Response):
    sessions_ended: int


# --- wallet --------------------------------------------------------------------


class BalanceOut(_Response):
    asset: str = Field(examples=["SOL"])
    amount: str = Field(description="Decimal string in the asset's unit.", examples=["1.5"])
    amount_minor: str = Field(description="Integer string in minor units.", examples=["1500000000"])
    available: str = Field(description="Amount minus pending holds.")
    available_minor: str
    inr_value: str | None = Field(
        description="Rupees at the current rate (2 decimals); null when no fresh rate exists.",
        examples=["12345.67"],
    )


class WalletResponse(_Response):
    balances: list[BalanceOut]


# --- payment codes -------------------------------------------------------------


class ParseCodeRequest(_Request):
    code: str = Field(
        min_length=1,
        max_length=2048,
        description="What the scanner read: a `upi://pay` URI, a BharatQR payload or a "
        "merchant link (`https://<host>/m/<id>`).",
    )


class PayeeOut(_Response):
    vpa: str
    name: str | None


class ParsedCodeResponse(_Response):
    kind: Literal["upi", "merchant_link"]
    source: str | None = Field(description="upi_uri | bharat_qr | merchant_link")
    payee: PayeeOut | None
    amount_inr: str | None = Field(description="Rupees, when the code fixes the amount.")
    amount_inr_minor: str | None = Field(description="Paise, when the code fixes the amount.")
    note: str | None
    reference: str | None
    merchant_code: str | None
    merchant_link_id: str | None
