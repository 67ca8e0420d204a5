"""The late-feedback sweep reads only the feedback no logged card has claimed yet: a partial index of it
by received time. The sweep had walked every feedback row of the retention window each hour, holding
SQLite's write lock meanwhile (0.28 s at 155,000 rows, growing with the hospital).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UNCLAIMED = sa.text("card_issued_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_feedback_unclaimed", "feedback", ["received_at"], sqlite_where=_UNCLAIMED,
                    postgresql_where=_UNCLAIMED)


def downgrade() -> None:
    op.drop_index("ix_feedback_unclaimed", table_name="feedback")
