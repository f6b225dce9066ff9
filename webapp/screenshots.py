"""Regenerate the payer app's screenshots: ``python -m webapp.screenshots OUTDIR``.

Starts what one payment needs on free loopback ports (the exchange and INR
venue stand-ins and RazorpayX, through :class:`sandbox.manager.Sandbox`),
a throwaway SQLite database, the app under werkzeug, one rates sync, and a
demo payer with balances; then Debian's Chromium (Playwright) on a phone
viewport pays a chai stall in SOL and captures ``home``, ``scan``,
``payee``, ``quote``, ``status`` and ``history`` as PNGs in ``OUTDIR``
(``docs/screenshots`` for the README). The settlement of the payment runs
the settlement job's own function in-process, as ``taskforce run``'s
Dagster would. Nothing is left running afterwards.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "demo-password-123"  # noqa: S105 - the throwaway demo account
DEMO_QR = "upi://pay?pa=chai.stall@okaxis&pn=Sharma%20Chai%20Stall&am=30.00&cu=INR&tn=Masala%20chai"
SECOND_QR = "upi://pay?pa=fruits.raju@oksbi&pn=Raju%20Fruits&am=120.00&cu=INR"
BALANCES = {"SOL": 2 * 10**9, "ETH": 5 * 10**16, "USDC": 25 * 10**6, "DOGE": 1500 * 10**8}


@contextmanager
def _stack(work: Path) -> Iterator[dict[str, Any]]:
    """Stand-ins, database, app server and settlement hook; torn down on exit."""
    import logging

    from werkzeug.serving import make_server

    import wallet.custody.models
    import wallet.db.all_models  # noqa: F401
    import webapp.pay.models  # noqa: F401 - registers every table
    from sandbox.manager import Sandbox, free_port
    from wallet.alerts import Alerter, MemoryIncidents
    from wallet.config import Settings
    from wallet.db.base import Base, utcnow
    from wallet.db.session import make_engine, make_session_factory
    from wallet.exchanges.factory import binance_from_settings
    from wallet.payouts.razorpayx import RazorpayXClient
    from wallet.rates.clients import build_rate_clients
    from wallet.rates.history import SqlRateHistory
    from wallet.rates.refresh import refresh_rates
    from wallet.settlement.config import SettlementConfig
    from wallet.settlement.service import SettlementDeps, settle_pass
    from webapp import create_app
    from webapp.extensions import session_factory
    from webapp.pay.pricing import rate_cache

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request log in the output
    sandbox = Sandbox(work / "sandbox")
    names = ["exchange", "inr_exchange", "razorpayx"]
    sandbox.start(names, ports={n: free_port() for n in names})
    server = None
    try:
        url = f"sqlite:///{work / 'app.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        overrides = {k: v for k, v in sandbox.settings().items() if v}
        settings = Settings(
            environment="dev", var_dir=work / "var", database_url=url, redis_url=None, **overrides
        )
        app = create_app(settings)
        deps = SettlementDeps(
            factory=factory,
            payouts=RazorpayXClient.from_settings(settings),
            exchanges={
                "binance": binance_from_settings(settings),
                "inr": binance_from_settings(settings, "inr"),
            },
            alerts=Alerter(MemoryIncidents()),
            config=SettlementConfig(sell_window_seconds=1),
        )
        app.extensions["settle_now"] = lambda payment_id: settle_pass(deps, [payment_id])
        clients = build_rate_clients(settings.exchange_url, settings.inr_exchange_url)
        with app.app_context():
            refresh_rates(
                clients.sources, rate_cache(), SqlRateHistory(session_factory()), utcnow()
            )
        clients.close()
        port = free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield {"base": f"http://127.0.0.1:{port}", "factory": factory}
    finally:
        if server is not None:
            server.shutdown()
        sandbox.stop()


def _demo_payer(base: str, factory: Any) -> str:
    import httpx

    from wallet.ledger import post_entry, user_wallet

    email = "asha@example.com"
    resp = httpx.post(
        f"{base}/api/v1/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30
    )
    resp.raise_for_status()
    user_id = resp.json()["user"]["id"]
    with factory() as db, db.begin():
        for asset, minor in BALANCES.items():
            post_entry(
                db,
                [
                    (f"external:deposits:{asset}", asset, minor),
                    (user_wallet(user_id, asset), asset, -minor),
                ],
                kind="demo.deposit",
                ref=f"demo-{asset}",
            )
    return email


def _pay(page: Any, base: str, code: str, asset: str) -> None:
    page.goto(f"{base}/pay/scan")
    page.fill("#code", code)
    page.click("#code-form button[type=submit]")
    page.locator(f'label.asset-option[data-asset="{asset}"]').click()
    page.wait_for_selector("#quote")


def capture(outdir: Path) -> list[Path]:
    """Drive the flow and write the PNGs; returns their paths."""
    from playwright.sync_api import ViewportSize, expect, sync_playwright

    outdir.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="tfw-shots-") as tmp, _stack(Path(tmp)) as stack:
        base = stack["base"]
        email = _demo_payer(base, stack["factory"])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(
                    viewport=ViewportSize(width=390, height=844),
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                )
                page = context.new_page()
                page.set_default_timeout(30_000)

                def shot(name: str) -> None:
                    path = outdir / f"{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    shots.append(path)

                page.goto(f"{base}/login?next=/wallet")
                page.fill("#email", email)
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/wallet")
                _pay(page, base, SECOND_QR, "USDC")
                page.click("#confirm")
                expect(page.locator("#status")).to_contain_text("UTR", timeout=60_000)

                page.goto(f"{base}/wallet")
                shot("home")
                page.goto(f"{base}/pay/scan")
                shot("scan")
                page.fill("#code", DEMO_QR)
                page.click("#code-form button[type=submit]")
                page.wait_for_selector("#payee-vpa")
                shot("payee")
                page.locator('label.asset-option[data-asset="SOL"]').click()
                page.wait_for_selector("#quote")
                shot("quote")
                page.click("#confirm")
                expect(page.locator("#status")).to_contain_text("UTR", timeout=60_000)
                shot("status")
                page.goto(f"{base}/pay/history")
                shot("history")
            finally:
                browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m webapp.screenshots OUTDIR\n")
        return 2
    for path in capture(Path(args[0])):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
