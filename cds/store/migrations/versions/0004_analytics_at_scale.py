"""Analytics at scale: an hourly tally of the card log (cards per hour, service, rule and pack
version, kept as cards are logged and pruned) so a period's firing is read from a few thousand rows
rather than a million; each card's patient key (its patient hash's first 64 bits as an integer) and
a covering index on issue time, rule and patient key, so distinct patients are counted from the index
alone and as integers; and each feedback row keeps its card's issue
time (when the card was logged before it), so a period's feedback is read without walking its cards.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_cards = sa.table("issued_cards", sa.column("card_uuid"), sa.column("issued_at", sa.DateTime(timezone=True)),
                  sa.column("service_id"), sa.column("rule_id"), sa.column("pack_version"), sa.column("patient_hash"),
                  sa.column("patient_key", sa.BigInteger))
BATCH = 10_000
_feedback = sa.table("feedback", sa.column("card_uuid"), sa.column("service_id"),
                     sa.column("card_issued_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    hours = op.create_table(
        "card_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("pack_version", sa.String(100), nullable=False),   # '' for a card logged without one
        sa.Column("cards", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hour", "service_id", "rule_id", "pack_version", name="pk_card_hours"),
    )
    with op.batch_alter_table("issued_cards") as batch:
        batch.add_column(sa.Column("patient_key", sa.BigInteger))
    bind = op.get_bind()
    _fill_patient_keys(bind)
    op.drop_index("ix_issued_cards_issued_at", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at_rule_patient", "issued_cards", ["issued_at", "rule_id", "patient_key"])
    hour = (sa.func.date_trunc("hour", _cards.c.issued_at) if bind.dialect.name == "postgresql"
            else sa.func.strftime("%Y-%m-%d %H:00:00.000000", _cards.c.issued_at))
    pack = sa.func.coalesce(_cards.c.pack_version, "")
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("card_issued_at", sa.DateTime(timezone=True)))
        batch.create_index("ix_feedback_card_issued_at", ["card_issued_at"])
    op.execute(_feedback.update().values(card_issued_at=sa.select(_cards.c.issued_at).where(
        _cards.c.card_uuid == _feedback.c.card_uuid, _cards.c.service_id == _feedback.c.service_id).scalar_subquery()))
    op.execute(hours.insert().from_select(
        ["hour", "service_id", "rule_id", "pack_version", "cards"],
        sa.select(hour, _cards.c.service_id, _cards.c.rule_id, pack, sa.func.count())
        .group_by(hour, _cards.c.service_id, _cards.c.rule_id, pack)))


def _fill_patient_keys(bind: sa.Connection) -> None:
    """Each logged card's patient key (as cds.patient_hash.patient_key makes it, frozen here), in batches."""
    unfilled = (sa.select(_cards.c.card_uuid, _cards.c.patient_hash)
                .where(_cards.c.patient_key.is_(None), _cards.c.patient_hash.is_not(None)).limit(BATCH))
    update = (_cards.update().where(_cards.c.card_uuid == sa.bindparam("uuid"))
              .values(patient_key=sa.bindparam("key")))
    while batch := bind.execute(unfilled).all():
        bind.execute(update, [{"uuid": uuid, "key": int.from_bytes(bytes.fromhex(hashed[:16]), "big", signed=True)}
                              for uuid, hashed in batch])


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_card_issued_at")
        batch.drop_column("card_issued_at")
    op.drop_index("ix_issued_cards_issued_at_rule_patient", table_name="issued_cards")
    op.create_index("ix_issued_cards_issued_at", "issued_cards", ["issued_at"])
    with op.batch_alter_table("issued_cards") as batch:
        batch.drop_column("patient_key")
    op.drop_table("card_hours")
