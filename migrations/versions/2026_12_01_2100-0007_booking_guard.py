"""The booking guard on PostgreSQL, indexes shaped like the quota queries, and a
version on keypads for the lock's compare-and-swap.

``zhendi_booking_guard`` is the lock-and-re-check of the one booking pipeline
(app/reservations/store.py): it locks the space row (and, under a quota, the
subject's row), then reads the holders and the quota use again. Each of its
statements takes a fresh snapshot (a VOLATILE function's do, in READ
COMMITTED), so it sees every booking that committed before it got the lock;
a CTE that locked the row could not, its reads keep the snapshot taken when
the statement began. A refusal raises SQLSTATE ZH409 (the message says which
rule, the detail what the guard saw), so the booking statement around it
writes nothing at all; the lock is held just for that statement.

``zhendi_quota_used`` counts one rule's use, for the guard and for the
snapshot a booking is decided on.

A subject's quota queries read its bookings by start time: an index per
subject kind, so that a person's bookings are not found by scanning every
booking made on nobody's organization.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDING = "'pending', 'confirmed', 'checked_in'"
# A rule's scope: one space, or every space of one center.
SCOPE = """
              AND (p_space IS NULL OR r.space_id = p_space)
              AND (p_center IS NULL
                   OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = p_center))"""
COUNTED = "'pending', 'confirmed', 'checked_in', 'completed', 'no_show'"

# One query per subject kind and period, each with a plain predicate that the
# subject's index serves: a query that chose between them with CASE would be
# planned once for every case and read the whole table.
QUOTA_USED = f"""
CREATE FUNCTION zhendi_quota_used(
    p_metric text, p_space integer, p_center integer, p_organization integer, p_user integer,
    p_week_start timestamptz, p_week_end timestamptz, p_now timestamptz
) RETURNS float8 LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_count bigint;
    v_hours float8;
BEGIN
    IF p_metric = 'future_bookings' THEN
        IF p_organization IS NOT NULL THEN
            SELECT count(*) INTO v_count FROM reservations r
            WHERE r.organization_id = p_organization
              AND r.starts_at > p_now - interval '1 day' AND r.ends_at > p_now
              AND r.status IN ({HOLDING}) {SCOPE};
        ELSE
            SELECT count(*) INTO v_count FROM reservations r
            WHERE r.user_id = p_user AND r.organization_id IS NULL
              AND r.starts_at > p_now - interval '1 day' AND r.ends_at > p_now
              AND r.status IN ({HOLDING}) {SCOPE};
        END IF;
        RETURN v_count;
    END IF;
    IF p_organization IS NOT NULL THEN
        SELECT count(*), sum(extract(epoch FROM r.ends_at - r.starts_at)) / 3600
        INTO v_count, v_hours FROM reservations r
        WHERE r.organization_id = p_organization
          AND r.starts_at >= p_week_start AND r.starts_at < p_week_end
          AND r.status IN ({COUNTED}) {SCOPE};
    ELSE
        SELECT count(*), sum(extract(epoch FROM r.ends_at - r.starts_at)) / 3600
        INTO v_count, v_hours FROM reservations r
        WHERE r.user_id = p_user AND r.organization_id IS NULL
          AND r.starts_at >= p_week_start AND r.starts_at < p_week_end
          AND r.status IN ({COUNTED}) {SCOPE};
    END IF;
    IF p_metric = 'hours_per_week' THEN
        RETURN coalesce(v_hours, 0);
    END IF;
    RETURN v_count;
END
$$
"""

BOOKING_GUARD = f"""
CREATE FUNCTION zhendi_booking_guard(
    p_space integer, p_start timestamptz, p_end timestamptz, p_attendees integer,
    p_user integer, p_exclude integer, p_organization integer,
    p_quota_metrics text[], p_quota_spaces integer[], p_quota_centers integer[],
    p_quota_limits integer[], p_quota_amounts float8[],
    p_week_start timestamptz, p_week_end timestamptz, p_now timestamptz
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_capacity integer;
    v_exclusive boolean;
    v_peak integer;
    v_mine boolean;
    v_used float8;
    v_first_start timestamptz;
    v_first_end timestamptz;
BEGIN
    SELECT s.capacity, s.booking_mode = 'exclusive' INTO v_capacity, v_exclusive
    FROM spaces s WHERE s.id = p_space AND s.is_active FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'gone';
    END IF;
    -- The holders of [p_start, p_end): a booking lasts at most a day, which
    -- bounds the index scan on (space_id, starts_at).
    IF v_exclusive THEN
        SELECT r.starts_at, r.ends_at INTO v_first_start, v_first_end
        FROM reservations r
        WHERE r.space_id = p_space AND r.status IN ({HOLDING})
          AND r.starts_at < p_end AND r.ends_at > p_start
          AND r.starts_at > p_start - interval '1 day'
          AND r.id IS DISTINCT FROM p_exclude
        ORDER BY r.starts_at LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'slot_taken',
                DETAIL = extract(epoch FROM v_first_start)::text || ' '
                         || extract(epoch FROM v_first_end)::text;
        END IF;
    ELSE
        -- Invariants 2 and 5 in one scan of the holders: does the caller hold a
        -- seat already, and the busiest instant (releases before takes).
        SELECT coalesce(bool_or(x.user_id = p_user), false), coalesce(max(x.load), 0)
        INTO v_mine, v_peak
        FROM (
            SELECT e.user_id,
                   sum(e.delta) OVER (ORDER BY e.at, e.delta ROWS UNBOUNDED PRECEDING) AS load
            FROM reservations r
            CROSS JOIN LATERAL (VALUES
                (greatest(r.starts_at, p_start), r.attendees, r.user_id),
                (least(r.ends_at, p_end), -r.attendees, NULL::integer)
            ) AS e(at, delta, user_id)
            WHERE r.space_id = p_space AND r.status IN ({HOLDING})
              AND r.starts_at < p_end AND r.ends_at > p_start
              AND r.starts_at > p_start - interval '1 day'
              AND r.id IS DISTINCT FROM p_exclude
        ) x;
        IF v_mine THEN
            RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'already_booked';
        END IF;
        IF v_peak + p_attendees > v_capacity THEN
            RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'space_full', DETAIL = v_peak::text;
        END IF;
    END IF;
    IF coalesce(array_length(p_quota_metrics, 1), 0) > 0 THEN
        -- Colleagues booking at once queue on their organization.
        IF p_organization IS NOT NULL THEN
            PERFORM FROM organizations o WHERE o.id = p_organization FOR UPDATE;
        ELSE
            PERFORM FROM users u WHERE u.id = p_user FOR UPDATE;
        END IF;
        FOR i IN 1 .. array_length(p_quota_metrics, 1) LOOP
            v_used := zhendi_quota_used(
                p_quota_metrics[i], p_quota_spaces[i], p_quota_centers[i], p_organization,
                p_user, p_week_start, p_week_end, p_now
            );
            IF v_used + p_quota_amounts[i] > p_quota_limits[i] THEN
                RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'quota_exceeded',
                    DETAIL = (i - 1)::text || ' ' || v_used::text;
            END IF;
        END LOOP;
    END IF;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("keypads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(QUOTA_USED)
        op.execute(BOOKING_GUARD)
    op.drop_index("ix_reservations_organization_id", table_name="reservations")
    op.create_index(
        "ix_reservations_organization_id_starts_at",
        "reservations",
        ["organization_id", "starts_at"],
    )
    op.create_index(
        "ix_reservations_personal",
        "reservations",
        ["user_id", "starts_at"],
        postgresql_where=sa.text("organization_id IS NULL"),
        sqlite_where=sa.text("organization_id IS NULL"),
    )


def downgrade() -> None:
    with op.batch_alter_table("keypads", schema=None) as batch_op:
        batch_op.drop_column("version")
    op.drop_index("ix_reservations_personal", table_name="reservations")
    op.drop_index("ix_reservations_organization_id_starts_at", table_name="reservations")
    op.create_index("ix_reservations_organization_id", "reservations", ["organization_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION zhendi_booking_guard")
        op.execute("DROP FUNCTION zhendi_quota_used")
