"""The booking guard's statements keep one plan per session.

PL/pgSQL prepares each statement of a function once per session and, by
default, plans it again for every call while the generic plan's estimate
looks dearer than the custom ones (it does here: the holders' time range is
a parameter). Planning the guard's holder and quota queries on every
booking cost more than running them: 390 against 580 µs a guard call
(bench/RESULTS.md). The generic plans are the index scans the custom ones
chose, on (space_id, starts_at) and on the subject's (…, starts_at).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = ("zhendi_booking_guard", "zhendi_quota_used")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} SET plan_cache_mode = force_generic_plan")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} RESET plan_cache_mode")
