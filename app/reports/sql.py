"""The report's one grouped query, written for each engine (app/reports/service.py
explains what it counts)."""

from app.reports.groups import BOOKED_TIME_SQL, DAY, HOUR, USED_SQL, WHOLE_RANGE, GroupBy

# Where a booking's space lies, for the network's roll-ups.
PLACE_COLUMNS = "ce.id AS center_id, ce.district AS district, ce.street AS street"
PLACE_JOIN = "JOIN spaces sp ON sp.id = r.space_id JOIN centers ce ON ce.id = sp.center_id"


def _epoch(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        # date_part is a double; extract's numeric costs more per row to cast.
        return f"CAST(date_part('epoch', {column}) AS bigint)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _keys(group_by: GroupBy, alias: str) -> list[str]:
    local = f"({alias}.bucket + :utc_offset)"
    return {
        GroupBy.space: [f"{alias}.space_id"],
        GroupBy.by_center: [f"{alias}.center_id"],
        GroupBy.street: [f"{alias}.district", f"{alias}.street"],
        GroupBy.district: [f"{alias}.district"],
        GroupBy.day: [f"{alias}.bucket"],
        GroupBy.weekday_hour: [f"({local} / {DAY} + 3) % 7", f"({local} % {DAY}) / {HOUR}"],
    }[group_by]


def _pieces(dialect: str, group_by: GroupBy) -> tuple[str, str]:
    """A CTE of bucket offsets (SQLite) and the join that cuts a booking ``b``
    into the buckets it touches: at most 25 hours, 2 days, or the one bucket
    spanning the whole range when grouping by space."""
    last = "(b.e - 1 - :origin) / :width - (b.s - :origin) / :width"
    if group_by in WHOLE_RANGE:
        return "", "CROSS JOIN (SELECT 0 AS n) AS pieces"
    if dialect == "postgresql":
        return "", f"CROSS JOIN LATERAL generate_series(0, {last}) AS pieces(n)"
    count = {GroupBy.day: 2, GroupBy.weekday_hour: 25}[group_by]
    offsets = ", ".join(f"({n})" for n in range(count))
    return f"pieces(n) AS (VALUES {offsets}),", f"JOIN pieces ON pieces.n <= {last}"


def usage_sql(dialect: str, group_by: GroupBy) -> str:
    """The booking figures of a report, one row per group.

    Buckets are ``:width`` seconds wide from ``:origin`` (a Shanghai midnight a
    day before the range, so no booking starts before it). ``hours`` sums each
    booking's pieces per bucket; ``counted`` counts each booking once, in the
    bucket where it starts. The center's own events count only as ``events``,
    their hours, apart from every booking figure. They are aggregated apart so that the distinct
    counts sort one row per booking, not one per piece.
    """
    least, greatest = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    materialized = "MATERIALIZED" if dialect == "postgresql" else ""
    pieces_cte, pieces_join = _pieces(dialect, group_by)
    clipped = (
        f"{least}(c.e, c.bucket + :width, :range_end) - {greatest}(c.s, c.bucket, :range_start)"  # noqa: E501
    )
    booked, used = BOOKED_TIME_SQL, USED_SQL
    cut_keys, start_keys = _keys(group_by, "c"), _keys(group_by, "started")
    names = [f"k{index}" for index in range(len(cut_keys))]
    positions = ", ".join(str(index + 1) for index in range(len(names)))
    as_names = ", ".join(f"{key} AS {name}" for key, name in zip(cut_keys, names, strict=True))
    as_names_started = ", ".join(
        f"{key} AS {name}" for key, name in zip(start_keys, names, strict=True)
    )
    key_list = ", ".join(names)
    by_place = group_by in WHOLE_RANGE and group_by is not GroupBy.space
    place_columns = f", {PLACE_COLUMNS}" if by_place else ""
    place_join = PLACE_JOIN if by_place else ""
    place_carried = ", b.center_id, b.district, b.street" if by_place else ""
    return f"""
WITH {pieces_cte}
b AS {materialized} (
    SELECT r.space_id, r.user_id, r.organization_id, r.status,
           r.checked_in_at IS NOT NULL AS checked_in, f.rating,
           r.kind = 'center_event' AS event,
           {_epoch(dialect, "r.starts_at")} AS s, {_epoch(dialect, "r.ends_at")} AS e
           {place_columns}
    FROM reservations r LEFT JOIN feedback f ON f.reservation_id = r.id {place_join}
    WHERE r.space_id IN :space_ids AND r.status IN :statuses
      AND r.starts_at < :to_at AND r.starts_at > :day_before AND r.ends_at > :from_at
),
c AS (
    SELECT b.status, b.checked_in, b.event, b.s, b.e, b.space_id {place_carried},
           ((b.s - :origin) / :width + pieces.n) * :width + :origin AS bucket
    FROM b {pieces_join}
),
hours AS (
    SELECT {as_names},
        sum(CASE WHEN c.status IN ({booked}) AND NOT c.event THEN {clipped} ELSE 0 END)
            AS booked,
        sum(CASE WHEN c.status IN ({used}) AND c.checked_in THEN {clipped} ELSE 0 END) AS used,
        sum(CASE WHEN c.status IN ({booked}) AND c.event THEN {clipped} ELSE 0 END) AS events
    FROM c
    WHERE c.bucket < :range_end AND c.bucket + :width > :range_start
    GROUP BY {positions}
),
started AS (
    SELECT b.*, ((b.s - :origin) / :width) * :width + :origin AS bucket
    FROM b WHERE b.s >= :range_start AND NOT b.event
),
counted AS (
    SELECT {as_names_started},
        count(*) AS bookings,
        count(CASE WHEN started.status = 'cancelled' THEN 1 END) AS cancellations,
        count(CASE WHEN started.status = 'no_show' THEN 1 END) AS no_shows,
        count(DISTINCT started.user_id) AS users,
        count(DISTINCT started.organization_id) AS organizations,
        sum(started.rating) AS rating_sum,
        count(started.rating) AS ratings
    FROM started
    GROUP BY {positions}
)
SELECT {key_list}, sum(booked), sum(used), sum(bookings), sum(cancellations), sum(no_shows),
       sum(users), sum(organizations), sum(rating_sum), sum(ratings), sum(events)
FROM (
    SELECT {key_list}, booked, used, 0 AS bookings, 0 AS cancellations, 0 AS no_shows,
           0 AS users, 0 AS organizations, 0 AS rating_sum, 0 AS ratings, events
    FROM hours
    UNION ALL
    SELECT {key_list}, 0, 0, bookings, cancellations, no_shows, users, organizations,
           rating_sum, ratings, 0
    FROM counted
) AS figures
GROUP BY {key_list}
"""
