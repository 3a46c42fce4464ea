"""Buffer time: a space's ``buffer_minutes``, and the PL/pgSQL rendered from one
source.

``spaces.buffer_minutes`` (0 to 240, default 0): the free minutes a booking
of an exclusive space needs before and after it, for cleaning or set-up. The
guard reads it with the space's row and widens the holders it looks for by
that much on both sides; the exclusion constraint still refuses plain
overlaps, and SQLite's writer decides with the same widened holders.

The functions' text is a literal copy of ``app/reservations/plpgsql.py`` as
of this migration, which now renders the statuses from the status table and
a quota's count from the predicates every engine counts with
(``tests/test_plpgsql.py`` checks the newest copy against it); CREATE OR
REPLACE drops their plan setting (migration 0010), so it is set again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 14:30:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUOTA_USED = """
CREATE OR REPLACE FUNCTION zhendi_quota_used(
    p_metric text, p_space integer, p_center integer, p_organization integer, p_user integer,
    p_week_start timestamptz, p_week_end timestamptz, p_now timestamptz,
    p_exclude integer DEFAULT NULL
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
              AND r.status IN ('pending', 'confirmed', 'checked_in')
              AND (p_space IS NULL OR r.space_id = p_space)
              AND (p_center IS NULL
                   OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = p_center))
              AND r.id IS DISTINCT FROM p_exclude;
        ELSE
            SELECT count(*) INTO v_count FROM reservations r
            WHERE r.user_id = p_user AND r.organization_id IS NULL
              AND r.starts_at > p_now - interval '1 day' AND r.ends_at > p_now
              AND r.status IN ('pending', 'confirmed', 'checked_in')
              AND (p_space IS NULL OR r.space_id = p_space)
              AND (p_center IS NULL
                   OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = p_center))
              AND r.id IS DISTINCT FROM p_exclude;
        END IF;
        RETURN v_count;
    END IF;
    IF p_organization IS NOT NULL THEN
        SELECT count(*), sum(extract(epoch FROM r.ends_at - r.starts_at) / 3600)
            INTO v_count, v_hours FROM reservations r
            WHERE r.organization_id = p_organization
              AND r.starts_at >= p_week_start AND r.starts_at < p_week_end
              AND r.status IN ('pending', 'confirmed', 'checked_in', 'completed', 'no_show')
              AND (p_space IS NULL OR r.space_id = p_space)
              AND (p_center IS NULL
                   OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = p_center))
              AND r.id IS DISTINCT FROM p_exclude;
    ELSE
        SELECT count(*), sum(extract(epoch FROM r.ends_at - r.starts_at) / 3600)
            INTO v_count, v_hours FROM reservations r
            WHERE r.user_id = p_user AND r.organization_id IS NULL
              AND r.starts_at >= p_week_start AND r.starts_at < p_week_end
              AND r.status IN ('pending', 'confirmed', 'checked_in', 'completed', 'no_show')
              AND (p_space IS NULL OR r.space_id = p_space)
              AND (p_center IS NULL
                   OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.center_id = p_center))
              AND r.id IS DISTINCT FROM p_exclude;
    END IF;
    IF p_metric = 'hours_per_week' THEN
        RETURN coalesce(v_hours, 0);
    END IF;
    RETURN v_count;
END
$$
"""

BOOKING_GUARD = """
CREATE OR REPLACE FUNCTION zhendi_booking_guard(
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
    v_buffer interval;
BEGIN
    SELECT s.capacity, s.booking_mode = 'exclusive', make_interval(mins => s.buffer_minutes)
    INTO v_capacity, v_exclusive, v_buffer
    FROM spaces s WHERE s.id = p_space AND s.is_active FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'ZH409', MESSAGE = 'gone';
    END IF;
    -- The holders of [p_start, p_end) (of an exclusive space, widened by its
    -- buffer on both sides): a booking lasts at most a day, which bounds the
    -- index scan on (space_id, starts_at).
    IF v_exclusive THEN
        SELECT r.starts_at, r.ends_at INTO v_first_start, v_first_end
        FROM reservations r
        WHERE r.space_id = p_space AND r.status IN ('pending', 'confirmed', 'checked_in', 'held')
          AND r.starts_at < p_end + v_buffer AND r.ends_at > p_start - v_buffer
          AND r.starts_at > p_start - v_buffer - interval '1 day'
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
            WHERE r.space_id = p_space
              AND r.status IN ('pending', 'confirmed', 'checked_in', 'held')
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
                p_user, p_week_start, p_week_end, p_now, p_exclude
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

SETTINGS = (
    "ALTER FUNCTION zhendi_quota_used SET plan_cache_mode = force_generic_plan",
    "ALTER FUNCTION zhendi_booking_guard SET plan_cache_mode = force_generic_plan",
)


def _migration(number: str) -> ModuleType:
    """An earlier migration's module, for the text it wrote."""
    path = next(Path(__file__).parent.glob(f"*-{number}_*.py"))
    spec = importlib.util.spec_from_file_location(f"migration_{number}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _functions(quota_used: str, booking_guard: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(quota_used)
        op.execute(booking_guard)
        for setting in SETTINGS:
            op.execute(setting)


def upgrade() -> None:
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("buffer_minutes", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_spaces_buffer_minutes_range"),
            "buffer_minutes >= 0 AND buffer_minutes <= 240",
        )
    _functions(QUOTA_USED, BOOKING_GUARD)


def downgrade() -> None:
    before = _migration("0023")
    _functions(before.QUOTA_USED, before.BOOKING_GUARD)
    with op.batch_alter_table("spaces", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_spaces_buffer_minutes_range"), type_="check")
        batch_op.drop_column("buffer_minutes")
