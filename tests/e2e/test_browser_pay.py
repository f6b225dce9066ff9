"""A payer on a phone scans a UPI QR with the camera, pays in SOL and sees "vendor paid".

Everything real on loopback: the Flask app served by werkzeug in a thread,
Debian's Chromium driven by Playwright on a 390×844 touch viewport, the
camera a fake device fed a Y4M video of a segno-made UPI QR (decoded by
jsQR in the page), rates synced from the Binance-style and INR exchange
stand-ins into the app's rates cache, and the vendor's payout made by the
RazorpayX stand-in. The "pay now" hook runs the settlement job's own
function (:func:`wallet.settlement.service.settle_pass`) on the submitted
payment, as the Dagster run would (the Dagster daemon path itself is proven
by ``test_dagster_settlement.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from sqlalchemy import select
from werkzeug.serving import make_server

import wallet.custody.models
import wallet.db.all_models  # noqa: F401
import webapp.pay.models  # noqa: F401 - registers every table
from sandbox.testing import free_port
from tests.settlement.helpers import deps_for
from wallet.config import Settings
from wallet.db.base import Base, utcnow
from wallet.db.models.payments import Payment
from wallet.db.models.settlement import Payout
from wallet.db.session import make_engine, make_session_factory
from wallet.ledger import check_invariants, post_entry, user_wallet
from wallet.payments.states import PaymentStatus
from webapp import create_app

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
UPI = "upi://pay?pa=chai.stall@okaxis&pn=Chai%20Stall&am=30.00&cu=INR&tn=Masala%20chai"
PHONE = {"width": 390, "height": 844}


def write_y4m(
    path: Path, text: str, *, width: int = 640, height: int = 480, frames: int = 10
) -> None:
    """A YUV4MPEG2 video (4:2:0) showing the QR of ``text``, black on white.

    The format is a text header, then per frame ``FRAME\\n`` and the raw
    Y, U and V planes; a still QR needs no encoder.
    """
    qr = segno.make(text, error="m")
    matrix = [list(row) for row in qr.matrix]
    modules = len(matrix) + 8  # 4-module quiet zone on each side
    scale = min(width, height) * 8 // 10 // modules
    size = modules * scale
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray([235]) * (width * height)  # video-range white
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            y0, x0 = top + (r + 4) * scale, left + (c + 4) * scale
            for y in range(y0, y0 + scale):
                start = y * width + x0
                luma[start : start + scale] = bytes([16]) * scale
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(bytes(luma))
            out.write(chroma)
            out.write(chroma)


class RatesSync:
    """The rates and order-books sensors' job, on a short loop: keep the app's caches fresh."""

    def __init__(self, app: Any, venues: dict[str, dict[str, Any]]) -> None:
        from wallet.rates.clients import build_rate_clients
        from wallet.rates.history import SqlRateHistory
        from webapp.extensions import session_factory
        from webapp.pay.pricing import book_cache, rate_cache

        with app.app_context():
            self.cache = rate_cache()
            self.books = book_cache()
            self.history = SqlRateHistory(session_factory())
        self.clients = build_rate_clients(venues["binance"]["url"], venues["inr"]["url"])
        self.stop = threading.Event()
        self.sync()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def sync(self) -> None:
        from wallet.rates.book_cache import refresh_books
        from wallet.rates.refresh import refresh_rates

        refresh_rates(self.clients.sources, self.cache, self.history, utcnow())
        refresh_books(self.clients.venues, self.books)  # what the order_books sensor does

    def loop(self) -> None:
        while not self.stop.wait(10):
            self.sync()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        self.clients.close()


@pytest.fixture
def live_app(
    tmp_path: Path, rzp: dict[str, Any], venues: dict[str, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    from wallet.settlement.service import settle_pass

    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    settings = Settings(
        environment="test",
        var_dir=tmp_path / "var",
        database_url=url,
        redis_url=None,
        exchange_url=venues["binance"]["url"],
        inr_exchange_url=venues["inr"]["url"],
        razorpayx_url=rzp["url"],
    )
    app = create_app(settings)
    deps = deps_for(factory, rzp, venues)
    submitted: list[str] = []

    def settle_now(payment_id: str) -> None:
        submitted.append(payment_id)
        settle_pass(deps, [payment_id])

    app.extensions["settle_now"] = settle_now
    rates = RatesSync(app, venues)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "base": f"http://127.0.0.1:{port}",
            "factory": factory,
            "submitted": submitted,
            "rzp": rzp,
        }
    finally:
        server.shutdown()
        thread.join(10)
        rates.close()
        app.extensions["engine"].dispose()
        engine.dispose()


def _payer(base: str, factory: Any) -> str:
    email = f"payer-{utcnow().timestamp():.0f}@example.com"
    resp = httpx.post(
        f"{base}/api/v1/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30
    )
    assert resp.status_code == 201, resp.text
    user_id = resp.json()["user"]["id"]
    with factory() as db, db.begin():
        post_entry(
            db,
            [
                ("external:deposits:SOL", "SOL", 2 * 10**9),
                (user_wallet(user_id, "SOL"), "SOL", -(2 * 10**9)),
            ],
            kind="test.deposit",
            ref=f"e2e-{user_id}",
        )
    return email


def test_scan_pick_sol_confirm_and_see_the_vendor_paid(
    tmp_path: Path, live_app: dict[str, Any]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, factory = live_app["base"], live_app["factory"]
    email = _payer(base, factory)
    video = tmp_path / "upi-qr.y4m"
    write_y4m(video, UPI)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        try:
            context = browser.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
            )
            context.grant_permissions(["camera"], origin=base)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/login?next=/pay/scan")
            page.fill("#email", email)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/pay/scan")

            page.click("#start-camera")  # the fake camera shows the QR; jsQR decodes it
            expect(page.locator("#payee-vpa")).to_have_text("chai.stall@okaxis")
            expect(page.locator("#payee-name")).to_have_text("Chai Stall")
            expect(page.locator("#payee-amount")).to_have_text("₹30.00")

            page.locator('label.asset-option[data-asset="SOL"]').click()  # auto-quotes
            expect(page.locator("#quote-asset")).to_have_text("SOL")
            expect(page.locator("#quote-inr")).to_have_text("₹30.00")
            assert int(page.locator("#countdown").inner_text()) > 0
            page.click("#confirm")

            expect(page.locator("#status")).to_contain_text("Vendor paid ₹30.00", timeout=60_000)
            expect(page.locator("#status")).to_contain_text("UTR")
            payment_id = page.locator("#payment").get_attribute("data-payment-id")
        finally:
            browser.close()

    assert live_app["submitted"] == [payment_id]
    with factory() as db:
        payment = db.get_one(Payment, payment_id)
        assert payment.status in (PaymentStatus.PAID_OUT, PaymentStatus.COMPLETED)
        payouts = list(db.scalars(select(Payout).where(Payout.payment_id == payment_id)))
        assert len(payouts) == 1 and payouts[0].utr
        check_invariants(db)
    # The RazorpayX stand-in holds exactly one payout for this payment, with that UTR.
    from wallet.payouts.razorpayx import RazorpayXClient

    creds = live_app["rzp"]["credentials"]
    with RazorpayXClient(
        live_app["rzp"]["url"], creds["key_id"], creds["key_secret"], creds["account_number"]
    ) as client:
        remote = client.find_payouts(payment_id)
    assert [p.utr for p in remote] == [payouts[0].utr]
