"""A vendor creates a dynamic QR, the soundbox announces the payment, an admin
releases a held payment — in Debian's Chromium driven by Playwright.

The Flask app is served by werkzeug in a thread on loopback. The payment
arrives through the domain layer (the payment state machine and the link's
single-use consumption), as the payer flow's confirm step and the chain
sensor would do it. ``speechSynthesis.speak`` is replaced by a recorder
before any page script runs, so the spoken sentence can be asserted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from tests.accounts.helpers import PASSWORD
from tests.merchant.support import PATHS, db, fresh_sqlite, make_payment, new_merchant, new_user
from tests.webapp.conftest import settings_for
from wallet.db.base import utcnow
from wallet.db.models import Payment, PaymentStatus, Role
from wallet.merchants import links
from wallet.payments.transitions import transition
from webapp import create_app

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RECORD_SPEECH = """
window.__spoken = [];
if (window.speechSynthesis) {
  window.speechSynthesis.speak = function (u) {
    window.__spoken.push({text: u.text, lang: u.lang});
  };
}
"""


def wait_until(page: Page, expression: str, timeout_ms: int = 30_000) -> None:
    """Poll ``expression`` until truthy.

    Not ``page.wait_for_function``: that compiles its predicate with
    ``new Function`` inside the page, which the app's CSP (no
    ``'unsafe-eval'``) rightly forbids; ``page.evaluate`` goes through the
    DevTools protocol and is not subject to the page's CSP.
    """
    waited = 0
    while not page.evaluate(expression):
        if waited >= timeout_ms:
            raise AssertionError(f"timed out after {timeout_ms} ms waiting for {expression}")
        page.wait_for_timeout(100)
        waited += 100


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    settings = settings_for(tmp_path, fresh_sqlite(tmp_path))
    app = create_app(settings, TESTING=True, ADMIN_PROBE_CHAINS=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["engine"].dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_dynamic_qr_then_soundbox_announces_the_payment(
    live: tuple[Flask, str], browser: Browser
) -> None:
    app, base = live
    user, merchant = new_merchant(app, name="Ramu Chai Stall")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(RECORD_SPEECH)
    page = context.new_page()
    sign_in(page, base, user.email)

    page.goto(f"{base}/merchant/qr")
    page.fill("#amount", "250")
    page.fill("#note", "Masala chai x10")
    page.select_option("#expires_in", "1h")
    page.click("#new-link button[type=submit]")
    expect(page.locator("#link-card h1")).to_have_text("₹250")
    expect(page.locator("#link-card .qr svg")).to_be_visible()
    link_id = page.locator("#link-card").get_attribute("data-link-id")
    assert link_id and page.locator("#link-url").inner_text().endswith(f"/m/{link_id}")

    page.goto(f"{base}/merchant/soundbox")
    page.click("#soundbox-start")
    expect(page.locator("#soundbox-state")).to_contain_text("Listening")

    # The payer pays the dynamic QR: a payment on the link's amount arrives.
    payment = make_payment(app, merchant, PaymentStatus.AWAITING_FUNDS, amount_paise=25_000)
    with db(app) as session:
        links.consume_link(session, link_id, payment.id, now=utcnow())
        for step in PATHS[PaymentStatus.CONFIRMED][1:]:
            transition(session, payment.id, step, "deposit confirmed", actor="test")

    wait_until(page, "window.__spoken.some(s => s.text === '₹250 received')", timeout_ms=15_000)
    spoken = page.evaluate("window.__spoken")
    assert {"text": "₹250 received", "lang": "en-IN"} in spoken
    expect(page.locator("#soundbox-log li").first).to_contain_text("₹250 received")

    page.goto(f"{base}/merchant/")
    expect(page.locator("#today-total")).to_have_text("₹250")
    page.goto(f"{base}/merchant/links/{link_id}")
    expect(page.locator("#link-state")).to_have_text("used")
    context.close()


def test_hindi_announcement(live: tuple[Flask, str], browser: Browser) -> None:
    app, base = live
    user, merchant = new_merchant(app)
    context = browser.new_context()
    context.add_init_script(RECORD_SPEECH)
    page = context.new_page()
    sign_in(page, base, user.email)
    page.goto(f"{base}/merchant/soundbox")
    page.check("input[name=lang][value=hi-IN]")
    page.click("#soundbox-start")
    expect(page.locator("#soundbox-state")).to_contain_text("Listening")
    make_payment(app, merchant, PaymentStatus.CONFIRMED, amount_paise=9_950)
    wait_until(page, "window.__spoken.some(s => s.lang === 'hi-IN' && s.text.includes('प्राप्त'))")
    assert "₹99.50 प्राप्त हुए" in [s["text"] for s in page.evaluate("window.__spoken")]
    context.close()


def test_admin_releases_a_held_payment(live: tuple[Flask, str], browser: Browser) -> None:
    app, base = live
    admin = new_user(app, Role.ADMIN)
    held = make_payment(app, None, PaymentStatus.HELD_FOR_REVIEW, amount_paise=40_000)
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, admin.email)
    page.goto(f"{base}/admin/review")
    card = page.locator(f"#held-{held.id}")
    expect(card).to_contain_text("₹400")
    card.locator("select[name=action]").select_option("payment.retry_settlement")
    card.locator("input[name=reason]").fill("KYC documents checked")
    card.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(re.compile("released to settlement", re.I))
    expect(page.locator("#queue-empty")).to_be_visible()
    with db(app) as session:
        assert session.get_one(Payment, held.id).status is PaymentStatus.SETTLING
    page.goto(f"{base}/admin/audit?subject_type=payment&subject_id={held.id}")
    expect(page.locator("table.audit")).to_contain_text("KYC documents checked")
    context.close()
