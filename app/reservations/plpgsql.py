"""The live PL/pgSQL of the booking pipeline on PostgreSQL, in one place.

``zhendi_quota_used`` counts one quota rule's use; ``zhendi_booking_guard`` is
the lock-and-re-check every holding write runs first (docs/ARCHITECTURE.md,
"Booking"; ``store.py`` says why it is a function). Both leave out
``p_exclude``, the reservation an act replaces: a move is counted net of the
booking it moves, and never collides with itself. The guard keeps a space's
``buffer_minutes`` free before and after each booking of an exclusive space.

The text is rendered from what the rest of the code says once: the statuses
from the status table (app/models/reservation.py), a quota's count from the
predicates every engine counts with (app/quotas/sql.py).

This text is what the database runs. A migration cannot import it (it would
change under a migration already applied), so the migration that last
changed a function carries a literal copy of this module's constants;
``tests/test_plpgsql.py`` checks that the newest copy equals this text. To
change a function: edit it here, add a migration with the new text, and the
test tells you if the two differ.
"""

from app.models import HOLDING_STATUSES, QuotaSubject, sql_list
from app.quotas.sql import Period, hours_of, period_predicates, scope_predicate, subject_predicate

HOLDING = sql_list(HOLDING_STATUSES)


def _counted(period: Period, subject: QuotaSubject) -> str:
    """The rule's count (and, for a week, hours) of one subject kind's bookings:
    one query per subject kind and period, each with a plain predicate that the
    subject's index serves."""
    subject_id = "p_organization" if subject is QuotaSubject.organization else "p_user"
    predicates = [
        subject_predicate(subject, subject_id),
        *period_predicates(
            period,
            now="p_now",
            day_before_now="p_now - interval '1 day'",
            week_start="p_week_start",
            week_end="p_week_end",
        ),
        f"(p_space IS NULL OR {scope_predicate(True, 'p_space')})",
        f"(p_center IS NULL\n                   OR {scope_predicate(False, 'p_center')})",
        "r.id IS DISTINCT FROM p_exclude",
    ]
    where = "\n              AND ".join(predicates)
    if period is Period.ahead:
        return f"SELECT count(*) INTO v_count FROM reservations r\n            WHERE {where};"
    return (
        f"SELECT count(*), sum({hours_of('postgresql')})\n"
        f"            INTO v_count, v_hours FROM reservations r\n            WHERE {where};"
    )


QUOTA_USED = f"""
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
            {_counted(Period.ahead, QuotaSubject.organization)}
        ELSE
            {_counted(Period.ahead, QuotaSubject.user)}
        END IF;
        RETURN v_count;
    END IF;
    IF p_organization IS NOT NULL THEN
        {_counted(Period.week, QuotaSubject.organization)}
    ELSE
        {_counted(Period.week, QuotaSubject.user)}
    END IF;
    IF p_metric = 'hours_per_week' THEN
        RETURN coalesce(v_hours, 0);
    END IF;
    RETURN v_count;
END
$$
"""

BOOKING_GUARD = f"""
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
        WHERE r.space_id = p_space AND r.status IN ({HOLDING})
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
              AND r.status IN ({HOLDING})
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

# Planned again on every call, the functions' queries cost more than they run
# (migration 0010); CREATE OR REPLACE drops this setting, so it follows each.
SETTINGS = (
    "ALTER FUNCTION zhendi_quota_used SET plan_cache_mode = force_generic_plan",
    "ALTER FUNCTION zhendi_booking_guard SET plan_cache_mode = force_generic_plan",
)

# In the order to create them: the guard calls the count.
FUNCTIONS = (QUOTA_USED, BOOKING_GUARD)
