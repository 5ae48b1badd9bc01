"""Extensions, created once and bound to the app in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from caseapp.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()

# Models derive from ``Model``: Flask-SQLAlchemy's class at run time, the typed base for mypy.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
