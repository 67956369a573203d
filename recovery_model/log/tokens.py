"""The bearer tokens seen (issuer, jti) until they expire, in the log's database so that every worker shares
them: a token's second use is a replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import seen_tokens


def first_use(log: PredictionLog, issuer: str, jti: str, expires: datetime, forget_before: datetime | None) -> bool:
    """Remember the token until it expires; False when it was seen before (a replay). With `forget_before`, the
    tokens that expired before it are forgotten in the same transaction."""
    with log.transaction() as connection:
        if forget_before is not None:
            connection.execute(delete(seen_tokens).where(seen_tokens.c.expires_at < forget_before))
        try:
            with connection.begin_nested():  # a savepoint: a replay undoes the insert, not the sweep
                connection.execute(insert(seen_tokens).values(issuer=issuer, jti=jti, expires_at=expires))
        except IntegrityError:
            return False
    return True


def expired_before(leeway_s: float) -> datetime:
    """The moment before which a token has expired beyond any leeway."""
    return datetime.now(UTC) - timedelta(seconds=leeway_s)
