"""The home page each role lands on, and a public health check for the service manager."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from caseapp import authz, web
from caseapp.extensions import db
from caseapp.geo import queries as geo_queries

bp = Blueprint("main", __name__)


@bp.route("/")
@authz.requires(authz.Action.SIGNED_IN)
def index() -> ResponseReturnValue:
    user = web.actor()
    communes = geo_queries.communes_in_scope(user)
    return render_template("main/index.html", communes=communes)


@bp.route("/healthz")
@authz.public
def health() -> ResponseReturnValue:
    """200 when the database answers; says nothing else."""
    db.session.execute(sa.select(1))
    return {"status": "ok"}
