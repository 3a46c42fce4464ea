"""What a report groups by and which bookings it counts how."""

from enum import StrEnum

from app.models import ReservationStatus

HOUR = 3600
DAY = 86400


class GroupBy(StrEnum):
    space = "space"
    day = "day"
    weekday_hour = "weekday_hour"


# Bookings that were made and kept, whatever became of them, count in
# ``bookings``; rejected or lapsed requests, offers never taken and requests
# still waiting for staff do not. Of those, all but the cancelled held the
# space's time (``booked_hours``); a no-show's time was booked and unused.
COUNTED = (
    ReservationStatus.confirmed,
    ReservationStatus.checked_in,
    ReservationStatus.completed,
    ReservationStatus.cancelled,
    ReservationStatus.no_show,
)
BOOKED = ("confirmed", "checked_in", "completed", "no_show")
USED = ("checked_in", "completed")
