"""One settings object, read from the environment, ``.env`` and the sandbox.

Nothing here runs at import time: call :func:`load_settings` (or build
``Settings(...)`` directly in tests). Precedence, highest first: explicit
arguments, environment variables, ``.env``, the endpoints file written by
``taskforce sandbox up``, then the defaults below (which point at the
sandbox's default ports).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_VAR_DIR = Path("var")


class SandboxEndpointsSource(PydanticBaseSettingsSource):
    """Settings written by ``taskforce sandbox up`` (URLs, keys, token addresses)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        import os

        var_dir = Path(os.environ.get("VAR_DIR", DEFAULT_VAR_DIR))
        default = var_dir / "sandbox" / "endpoints.json"
        path = Path(os.environ.get("SANDBOX_ENDPOINTS_FILE", default))
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        settings = data.get("settings", {})
        return {k: v for k, v in settings.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Every knob of the platform. Amounts are integers in minor units."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: str = "dev"  # dev | test | production
    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = ""  # empty: SQLite under var_dir
    redis_url: str | None = None
    dagster_home: Path | None = None
    dagster_storage_url: str | None = None  # postgresql+psycopg2://…; SQLite when unset
    wallet_master_key: SecretStr | None = None  # base64 32 bytes; generated in dev
    # Retired master keys (comma-separated base64), kept to unwrap until rotation ends.
    wallet_previous_master_keys: SecretStr | None = None

    # Outside world (defaults: the sandbox's default ports on loopback).
    eth_rpc_url: str = "http://127.0.0.1:8545"
    sol_rpc_url: str = "http://127.0.0.1:8899"
    btc_rpc_url: str = "http://sandbox:sandbox@127.0.0.1:18443"
    doge_rpc_url: str = "http://sandbox:sandbox@127.0.0.1:18445"
    exchange_url: str = "http://127.0.0.1:9100"
    exchange_api_key: SecretStr = SecretStr("sandbox-exchange-key")
    exchange_api_secret: SecretStr = SecretStr("sandbox-exchange-secret")
    inr_exchange_url: str = "http://127.0.0.1:9101"
    inr_exchange_api_key: SecretStr = SecretStr("sandbox-inr-key")
    inr_exchange_api_secret: SecretStr = SecretStr("sandbox-inr-secret")
    coinbase_url: str = "http://127.0.0.1:9102"
    razorpayx_url: str = "http://127.0.0.1:9200"
    razorpayx_key_id: SecretStr = SecretStr("rzp_test_sandbox")
    razorpayx_key_secret: SecretStr = SecretStr("sandbox-razorpayx-secret")
    razorpayx_webhook_secret: SecretStr = SecretStr("sandbox-webhook-secret")
    razorpayx_account_number: str = "2323230000000000"
    token_contracts: dict[str, str] = Field(default_factory=dict)  # symbol -> contract/mint

    # Quotes, fees and risk.
    quote_ttl_seconds: int = 90
    rate_max_age_seconds: int = 60
    platform_fee_bps: int = 100  # 1.00 %
    platform_fee_fixed_paise: int = 0
    volatility_buffer_bps: dict[str, int] = Field(
        default_factory=lambda: {"stable": 20, "major": 100, "meme": 300}
    )
    max_payment_paise: int = 10_000_000  # ₹1,00,000
    min_payment_paise: int = 100  # ₹1
    tds_bps: int = 0  # Section 194S TDS; the risk/compliance work sets it

    # Rates, routes and circuit breakers (wallet/rates, wallet/quotes).
    rate_refresh_seconds: int = 30
    rate_outlier_bps: int = 200  # a source this far from the median is excluded
    rate_jump_bps: int = 1000  # a source jumping this far since its last value is excluded
    rate_cache_ttl_seconds: int = 300
    rate_cache_prefix: str = "taskforce:rates"
    book_max_age_seconds: int = 30  # cached order books older than this refuse quotes
    book_cache_ttl_seconds: int = 120
    slippage_limit_bps: int = 150
    venue_taker_fee_bps: dict[str, int] = Field(
        default_factory=lambda: {"binance": 10, "inr": 20, "coinbase": 60}
    )
    usd_inr_rate: str | None = None  # decimal string; derived from USDTINR when unset
    breaker_move_bps: dict[str, int] = Field(
        default_factory=lambda: {"stable": 200, "major": 800, "meme": 2000}
    )
    breaker_window_seconds: int = 300
    breaker_cooldown_seconds: int = 300
    breaker_min_depth_paise: int = 5_000_000
    quote_ttl_by_chain: dict[str, int] = Field(default_factory=lambda: {"bitcoin": 300})
    network_fee_paise: dict[str, int] = Field(
        default_factory=lambda: {"ethereum": 2000, "solana": 100, "bitcoin": 10000, "dogecoin": 500}
    )

    # Settlement (wallet/settlement/config.py reads settlement_<name>; None = its default).
    settlement_max_payout_attempts: int | None = None
    settlement_payout_wait_seconds: float | None = None
    settlement_sell_window_seconds: int | None = None
    settlement_float_min_paise: int | None = None
    settlement_payment_sla_seconds: int | None = None
    settlement_unsold_sla_seconds: int | None = None
    payment_expiry_grace_seconds: int | None = (
        None  # external: after quote expiry; default TTL+15 min
    )

    # Custody: sweeps and confirmation overrides (wallet/custody/config.py).
    custody_sweep_min: dict[str, int] | None = None  # asset -> minor units
    custody_cold_threshold: dict[str, int] | None = None  # asset -> minor units kept hot
    custody_cold_addresses: dict[str, str] | None = None  # chain -> cold address
    custody_topup_margin_bps: int | None = None
    custody_sweep_confirmations: int | None = None
    custody_confirmations: dict[str, int] | None = None  # asset -> deposit confirmations
    custody_signer_per_tx_cap: dict[str, int] | None = None  # asset -> minor units per send
    custody_signer_daily_cap: dict[str, int] | None = None  # asset -> minor units per UTC day

    # Observability: logs, Sentry, readiness, alerts (wallet/observability, wallet/alerts).
    log_level: str = "INFO"
    log_format: str = "json"  # json | text
    sentry_dsn: SecretStr | None = None  # Sentry is off without a DSN
    sentry_release: str | None = None
    sentry_traces_sample_rate: float = 0.0  # a sampling probability, not money
    dagster_graphql_url: str | None = None
    dagster_heartbeat_max_age_seconds: int = 120
    readiness_timeout_seconds: float = 2.0
    readiness_checks: str | tuple[str, ...] | None = None  # "database,cache"; all when unset
    chain_head_cache_seconds: float = 10.0
    alert_quiet_seconds: int = 300
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_slack_webhook_url: SecretStr | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_starttls: bool = False
    alert_smtp_from: str = "alerts@taskforce.example"
    alert_smtp_to: str = ""  # comma-separated
    webhook_silence_seconds: int = 900
    worker_silence_seconds: int = 120  # a warm worker loop silent this long alerts
    withdrawal_stuck_seconds: int | None = None  # held/broadcast this long alerts; default 2 h

    trusted_proxies: int = 0  # how many reverse proxies set X-Forwarded-For in front of us
    db_pool_size: int = 5  # per process; gunicorn workers × this ≤ the database's budget
    web_host: str = "127.0.0.1"
    web_port: int = 5000
    dagster_port: int = 3000
    # A warm ``taskforce settle-worker`` runs (``taskforce run`` starts one): it polls for
    # confirmed payments, so "pay now" launches no Dagster run of its own.
    settlement_worker: bool = False
    # Where the warm worker's loops touch a file on every pass, failed or not, for
    # ``taskforce settle-worker --alive`` (Kubernetes' liveness probe). Unset: no files.
    worker_pulse_dir: Path | None = None
    secret_key: SecretStr | None = None  # Flask session signing; generated in dev
    vapid_private_key: SecretStr | None = None  # Web Push (PEM); generated in dev
    vapid_subject: str = "mailto:ops@taskforce.example"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            SandboxEndpointsSource(settings_cls),
            file_secret_settings,
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'taskforce.db').resolve()}"

    @property
    def resolved_dagster_home(self) -> Path:
        return (self.dagster_home or self.var_dir / "dagster").resolve()


def load_settings(**overrides: Any) -> Settings:
    """Read settings now (never at import time)."""
    return Settings(**overrides)
