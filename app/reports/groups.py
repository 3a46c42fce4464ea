"""What a report groups by and which bookings it counts how."""

from enum import StrEnum

from app.models import BOOKED_TIME_STATUSES, REPORTED_STATUSES, USED_STATUSES, sql_list

HOUR = 3600
DAY = 86400


class GroupBy(StrEnum):
    space = "space"
    day = "day"
    weekday_hour = "weekday_hour"
    # Roll-ups of the network: named apart from its value, ``center`` is a
    # method of every str.
    by_center = "center"
    street = "street"  # a district's street: (district, street)
    district = "district"


# The groups that span the whole range (a booking is one piece), by where a
# space lies rather than when.
WHOLE_RANGE = frozenset({GroupBy.space, GroupBy.by_center, GroupBy.street, GroupBy.district})


# Which bookings count how (the status table, app/models/reservation.py): made
# and kept, whatever became of them, in ``bookings``; of those, all but the
# cancelled in ``booked_hours``; those people came to in ``used_hours``.
REPORTED = REPORTED_STATUSES
BOOKED_TIME_SQL = sql_list(BOOKED_TIME_STATUSES)
USED_SQL = sql_list(USED_STATUSES)
