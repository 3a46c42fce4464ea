"""A resident's profile: a nickname, and the phone number sealed like other
personal data.

The plaintext ``users.phone`` (written only by the demo data so far) becomes
AES-GCM ciphertext, a masked form and keyed hashes of the whole number and of
its last four digits, by which staff find a booker. Numbers already stored
are sealed with ``ZHENDI_PII_KEY`` on the way.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns without defaults: plain ALTER TABLEs on both engines.
    op.add_column("users", sa.Column("phone_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("users", sa.Column("phone_key_version", sa.SmallInteger(), nullable=True))
    op.add_column("users", sa.Column("phone_masked", sa.String(length=20), nullable=True))
    op.add_column("users", sa.Column("phone_index", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("phone_tail_index", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("nickname", sa.String(length=30), nullable=True))
    op.create_index(op.f("ix_users_phone_index"), "users", ["phone_index"], unique=False)
    op.create_index(op.f("ix_users_phone_tail_index"), "users", ["phone_tail_index"], unique=False)
    _seal_stored_phones()
    # Neither indexed nor constrained: SQLite (>= 3.35) drops it in place.
    op.drop_column("users", "phone")


def _seal_stored_phones() -> None:
    connection = op.get_bind()
    users = sa.table(
        "users",
        sa.column("id", sa.Integer),
        sa.column("phone", sa.String),
        sa.column("phone_sealed", sa.LargeBinary),
        sa.column("phone_key_version", sa.SmallInteger),
        sa.column("phone_masked", sa.String),
        sa.column("phone_index", sa.String),
        sa.column("phone_tail_index", sa.String),
    )
    stored = connection.execute(
        sa.select(users.c.id, users.c.phone).where(users.c.phone.is_not(None))
    ).all()
    if not stored:
        return
    from app.core.config import Settings
    from app.core.crypto import PiiCipher
    from app.identity import phones

    cipher = PiiCipher(Settings().pii_key_bytes)
    for user_id, phone in stored:
        fields = phones.sealed_fields(cipher, phone) if phones.is_phone(phone) else {}
        if fields:
            connection.execute(users.update().where(users.c.id == user_id).values(**fields))


def downgrade() -> None:
    # The numbers cannot come back in plaintext without the key: they are dropped.
    op.add_column("users", sa.Column("phone", sa.String(length=20), nullable=True))
    op.drop_index(op.f("ix_users_phone_tail_index"), table_name="users")
    op.drop_index(op.f("ix_users_phone_index"), table_name="users")
    for column in (
        "nickname",
        "phone_tail_index",
        "phone_index",
        "phone_masked",
        "phone_key_version",
        "phone_sealed",
    ):
        op.drop_column("users", column)
