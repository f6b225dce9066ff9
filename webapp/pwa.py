"""The payer's Progressive Web App shell (issue 7, "The PWA").

Home (balances) and Scan (camera via jsQR, photo upload, or paste the
link) are server-rendered pages with external scripts only, so a strict
CSP (no inline script) can be switched on. The manifest and service worker
make it installable; the worker caches the static shell and goes to the
network first for API calls and pages. Quote, confirm and status screens
arrive with quotes and settlement (next wave).
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from wallet.db.models import Role
from wallet.upi import UpiError, parse_payment_code
from webapp.api.codes_routes import describe, own_hosts
from webapp.extensions import settings
from webapp.security import current_user, login_required, signed_in

bp = Blueprint("pwa", __name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSQR = REPO_ROOT / "node_modules" / "jsqr" / "dist" / "jsQR.js"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@bp.get("/")
def home() -> ResponseReturnValue:
    """The payer's wallet for a signed-in user; a welcome otherwise."""
    user = current_user()
    if user is None:
        return render_template("pwa/welcome.html")
    if user.role is Role.MERCHANT:
        return redirect(url_for("merchant.dashboard"))
    if user.role is Role.ADMIN:
        return redirect(url_for("admin.index"))
    return redirect(url_for("pay.home"))


@bp.route("/scan", methods=["GET", "POST"])
@login_required
def scan() -> ResponseReturnValue:
    """Scan, upload or paste a code; POST shows who it pays and how much."""
    signed_in()
    if request.method == "GET":
        return render_template("pwa/scan.html", parsed=None, code="")
    code = request.form.get("code", "")
    try:
        parsed = parse_payment_code(
            code, max_paise=settings().max_payment_paise, allowed_hosts=own_hosts()
        )
    except UpiError as exc:
        flash(f"{exc.message} ({exc.code})", "error")
        return render_template("pwa/scan.html", parsed=None, code=code[:2048]), 400
    return render_template("pwa/scan.html", parsed=describe(parsed), code=code)


@bp.get("/offline")
def offline() -> ResponseReturnValue:
    """What the service worker shows when a page cannot be fetched."""
    return render_template("pwa/offline.html")


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """Web app manifest: installable, standalone, portrait, rupee green."""
    data = {
        "name": "TaskForce Wallet",
        "short_name": "TaskForce",
        "description": "Pay any UPI QR with crypto.",
        "id": "/",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f6f7f9",
        "theme_color": "#0a7d4f",
        "lang": "en",
        "icons": [
            {
                "src": url_for("static", filename="icons/icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "any",
            },
            {
                "src": url_for("static", filename="icons/maskable.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [{"name": "Scan & pay", "url": "/scan"}],
    }
    response = jsonify(data)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, served from the root so its scope is the whole app."""
    response = send_file(STATIC_DIR / "js" / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/vendor/jsqr.js")
def jsqr() -> ResponseReturnValue:
    """jsQR from npm (``node_modules``, installed by ``make setup``; never committed)."""
    path = Path(current_app.config.get("JSQR_PATH", DEFAULT_JSQR))
    if not path.is_file():
        abort(404, description="jsQR is not installed: run `npm ci` (make setup).")
    return send_file(path, mimetype="text/javascript", max_age=86400)
