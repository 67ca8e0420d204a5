"""The card log gets indicator, hookInstance and a keyed patient hash; feedback gets real columns
instead of its JSON payload (whose free-text userComment, possibly PHI, is not carried over: only
whether one was given). Indexes on the times that retention and analytics select by.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _columns() -> list[sa.Column]:
    """Feedback's new columns (fresh objects: a column belongs to one table)."""
    return [
        sa.Column("indicator", sa.String(20)),
        sa.Column("outcome_at", sa.DateTime(timezone=True)),
        sa.Column("override_system", sa.String(200)),
        sa.Column("override_code", sa.String(100)),
        sa.Column("override_display", sa.String(300)),
        sa.Column("accepted_suggestions", sa.JSON),
        sa.Column("comment_given", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


_feedback = sa.table("feedback", sa.column("card_uuid"), sa.column("outcome"), sa.column("payload", sa.Text),
                     *(sa.column(c.name, c.type) for c in _columns()))


def upgrade() -> None:
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("indicator", sa.String(20)))
        batch.add_column(sa.Column("hook_instance", sa.String(100)))
        batch.add_column(sa.Column("patient_hash", sa.String(64)))
        batch.create_index("ix_issued_cards_issued_at", ["issued_at"])
    with op.batch_alter_table("feedback") as batch:
        for column in _columns():
            batch.add_column(column)
    bind = op.get_bind()
    for card_uuid, outcome, payload in bind.execute(sa.select(_feedback.c.card_uuid, _feedback.c.outcome,
                                                              _feedback.c.payload)).all():
        bind.execute(sa.update(_feedback).where(_feedback.c.card_uuid == card_uuid, _feedback.c.outcome == outcome)
                     .values(**_columns_of(payload)))
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("payload")
        batch.create_index("ix_feedback_received_at", ["received_at"])


def _columns_of(payload: str) -> dict[str, Any]:
    """The new columns' values from a stored feedback item (the JSON the service kept until 0002)."""
    try:
        item = json.loads(payload)
    except ValueError:
        item = {}
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    stamp = item.get("outcomeTimestamp")
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    suggestions = [str(s["id"]) for s in item.get("acceptedSuggestions") or [] if isinstance(s, dict) and s.get("id")]
    if moment is not None:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return {"outcome_at": moment,
            "override_system": _text(reason.get("system"), 200), "override_code": _text(reason.get("code"), 100),
            "override_display": _text(reason.get("display"), 300), "accepted_suggestions": suggestions or None,
            "comment_given": bool(override.get("userComment"))}


def _text(value: Any, length: int) -> str | None:
    return None if value is None else str(value)[:length]


def downgrade() -> None:
    """Back to 0002: the payload is rebuilt from the columns (the comments are gone for good)."""
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_received_at")
        batch.add_column(sa.Column("payload", sa.Text, nullable=False, server_default="{}"))
    bind = op.get_bind()
    for row in bind.execute(sa.select(_feedback)).mappings().all():
        reason = {k: row[f"override_{k}"] for k in ("system", "code", "display") if row[f"override_{k}"]}
        item = {"card": row["card_uuid"], "outcome": row["outcome"],
                "outcomeTimestamp": row["outcome_at"].isoformat() if row["outcome_at"] else None,
                "acceptedSuggestions": [{"id": s} for s in row["accepted_suggestions"] or []] or None,
                "overrideReason": {"reason": reason} if reason else None}
        bind.execute(sa.update(_feedback).where(_feedback.c.card_uuid == row["card_uuid"],
                                                _feedback.c.outcome == row["outcome"])
                     .values(payload=json.dumps({k: v for k, v in item.items() if v is not None})))
    with op.batch_alter_table("feedback") as batch:
        for column in _columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_index("ix_issued_cards_issued_at")
        for name in ("patient_hash", "hook_instance", "indicator"):
            batch.drop_column(name)
