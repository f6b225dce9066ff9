"""Languages of the app (Flask-Babel): English and Hindi, more by adding files.

Messages are marked with ``_()`` in templates and :func:`flask_babel.gettext`
in Python; catalogues live in ``webapp/translations/<lang>/LC_MESSAGES``
(``messages.po`` edited by hand or with ``pybabel``, ``messages.mo``
compiled from it: ``pybabel compile -d webapp/translations``). Adding a
language is a new catalogue plus one entry in :data:`LANGUAGES`.

The language is the one the user picked (kept in the session), else the
browser's ``Accept-Language`` best match, else English.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_babel import Babel

from webapp.security import safe_next

LANGUAGES: dict[str, str] = {"en": "English", "hi": "हिन्दी"}
DEFAULT = "en"
SESSION_KEY = "lang"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = session.get(SESSION_KEY)
    if isinstance(chosen, str) and chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


@bp.post("/lang")
def switch_language() -> ResponseReturnValue:
    """Remember the chosen language for this browser and go back (CSRF-checked form)."""
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang
    return redirect(safe_next(request.form.get("next"), "/"), code=303)


def register_i18n(app: Flask) -> None:
    """Attach Flask-Babel and the language switch; templates get ``lang`` and ``languages``."""
    Babel(app, locale_selector=select_locale, default_locale=DEFAULT)
    app.register_blueprint(bp)

    @app.context_processor
    def _language() -> dict[str, object]:
        return {"lang": select_locale(), "languages": LANGUAGES}
