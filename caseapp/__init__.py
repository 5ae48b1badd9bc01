"""CaseApp: case files for communes helping young people leave drugs behind.

``create_app`` reads like a table of contents: settings, keys, extensions, request hooks, features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from caseapp.config import ConfigError, Settings, instance_path_from_env, load_settings
from caseapp.crypto import FieldCipher, load_keyring

__all__ = ["ConfigError", "create_app"]

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name: str) -> Path:
    """``templates/`` and ``migrations/`` sit at the repository top; the wheel ships them inside."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


TEMPLATES_DIR = _shipped_dir("templates")
MIGRATIONS_DIR = _shipped_dir("migrations")


def create_app(
    overrides: dict[str, Any] | None = None, *, instance_path: Path | None = None
) -> Flask:
    """Build the web application. Refuses to start on a missing secret or a bad key file."""
    instance = (instance_path or instance_path_from_env()).resolve()
    settings = load_settings(instance, overrides)
    keyring = load_keyring(settings.keyring_path)

    app = Flask(
        __name__,
        instance_path=str(instance),
        template_folder=str(TEMPLATES_DIR),
        static_folder="static",
    )
    _configure_flask(app, settings)
    app.extensions["caseapp.settings"] = settings
    app.extensions["caseapp.keyring"] = keyring
    app.extensions["caseapp.cipher"] = FieldCipher(keyring, keyring_path=settings.keyring_path)

    from caseapp import web
    from caseapp.extensions import babel, bootstrap, csrf, db, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        from caseapp.db import configure_engine

        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=web.select_locale,
        timezone_selector=lambda: settings.TIMEZONE,
    )
    bootstrap.init_app(app)
    login_manager.init_app(app)
    web.init_app(app)

    from caseapp.admin.views import bp as admin_bp
    from caseapp.auth.views import bp as auth_bp
    from caseapp.break_glass.views import bp as break_glass_bp
    from caseapp.cases.import_views import bp as imports_bp
    from caseapp.cases.views import bp as cases_bp
    from caseapp.followups.views import bp as followups_bp
    from caseapp.indicators.views import bp as indicators_bp
    from caseapp.main.views import bp as main_bp
    from caseapp.scheduler.views import bp as scheduler_bp
    from caseapp.workflow.views import bp as workflow_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(workflow_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(followups_bp)
    app.register_blueprint(scheduler_bp)
    app.register_blueprint(indicators_bp)
    app.register_blueprint(break_glass_bp)
    return app


def _configure_flask(app: Flask, settings: Settings) -> None:
    local = settings.LOCAL_HTTP
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=settings.MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        MAX_FORM_PARTS=1000,
        SESSION_COOKIE_NAME="caseapp_session" if local else "__Host-caseapp_session",
        SESSION_COOKIE_SECURE=not local,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=settings.SESSION_ABSOLUTE_HOURS * 3600,
        PREFERRED_URL_SCHEME="http" if local else "https",
        WTF_CSRF_TIME_LIMIT=settings.SESSION_ABSOLUTE_HOURS * 3600,
        WTF_CSRF_SSL_STRICT=not local,
        BABEL_DEFAULT_LOCALE=settings.DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE=settings.TIMEZONE,
        BABEL_TRANSLATION_DIRECTORIES=str(PACKAGE_DIR / "translations"),
        BOOTSTRAP_SERVE_LOCAL=True,
        TEMPLATES_AUTO_RELOAD=settings.is_development,
    )
    # Other upper-case names in instance/config.py (or CASEAPP_*) are Flask or extension settings.
    app.config.update(settings.EXTRA)
