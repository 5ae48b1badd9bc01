"""The leader lock: only one scheduler runs jobs (SECURITY §2).

PostgreSQL: ``pg_try_advisory_lock`` on a connection the leader keeps open; the lock goes with
the connection, so a crashed leader frees it at once. SQLite: a lease row that the leader renews;
another scheduler takes over once the lease has expired. Both write the heartbeat the
administrator sees.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa

from caseapp.db import utcnow
from caseapp.scheduler.models import SchedulerLease

LOCK_NAME = "scheduler"
ADVISORY_KEY = 0x43415345  # "CASE": the key of CaseApp's advisory lock
LEASE_SECONDS = 120
LEASES = cast(sa.Table, SchedulerLease.__table__)


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


class LeaderLock:
    """Try to become (or stay) the leader with ``acquire``; give it up with ``release``."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        holder: str | None = None,
        lease_seconds: int = LEASE_SECONDS,
    ) -> None:
        self.engine = engine
        self.holder = holder or default_holder()
        self.lease = timedelta(seconds=lease_seconds)
        self._connection: sa.Connection | None = None  # PostgreSQL: holds the advisory lock
        self.held = False

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self, now: datetime | None = None) -> bool:
        """Become or stay the leader; True when this process leads. Renews the heartbeat."""
        now = now or utcnow()
        if self.is_postgres:
            self.held = self._advisory()
            if self.held:
                self._write_lease(now, force=True)
        else:
            self.held = self._write_lease(now, force=False)
        return self.held

    def _advisory(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT 1"))
                self._connection.commit()  # never idle in a transaction; the lock survives
                return True  # the lock lives as long as this connection
            except sa.exc.DBAPIError:
                self._drop_connection()
        connection = self.engine.connect()
        got = bool(
            connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
        )
        connection.commit()
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def _write_lease(self, now: datetime, *, force: bool) -> bool:
        """Take or renew the lease row; with ``force`` (PostgreSQL, lock already held) always."""
        expires = now + self.lease
        table = LEASES
        with self.engine.begin() as connection:
            condition = table.c.name == LOCK_NAME
            if not force:
                condition = sa.and_(
                    condition,
                    sa.or_(table.c.holder == self.holder, table.c.expires_at < now),
                )
            updated = connection.execute(
                sa.update(table)
                .where(condition)
                .values(holder=self.holder, expires_at=expires, heartbeat_at=now)
            ).rowcount
            if updated:
                return True
            exists = connection.execute(
                sa.select(table.c.name).where(table.c.name == LOCK_NAME)
            ).first()
            if exists is not None:
                return False
            connection.execute(
                sa.insert(table).values(
                    name=LOCK_NAME,
                    holder=self.holder,
                    acquired_at=now,
                    expires_at=expires,
                    heartbeat_at=now,
                )
            )
            return True

    def release(self) -> None:
        """Stop leading: free the advisory lock or expire the lease."""
        if self._connection is not None:
            self._drop_connection()
        elif self.held:
            table = LEASES
            with self.engine.begin() as connection:
                connection.execute(
                    sa.update(table)
                    .where(table.c.name == LOCK_NAME, table.c.holder == self.holder)
                    .values(expires_at=utcnow())
                )
        self.held = False

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not connection.invalidated:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                connection.commit()
        except sa.exc.SQLAlchemyError:
            pass  # a dead connection holds no lock
        finally:
            connection.close()
