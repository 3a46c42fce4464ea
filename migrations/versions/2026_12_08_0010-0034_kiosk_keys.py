"""The screen at a space's door (门口屏): the hash of its device key, issued
and rotated by staff (README, "The screen at the door").

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.add_column(sa.Column("kiosk_key_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.drop_column("kiosk_key_hash")
