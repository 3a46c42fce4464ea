"""Staff's changes of a space's time that answer with the bookings they affected."""

from app.holidays.schemas import DaySet, DaySetOut
from app.spaces.affected import AffectedAction
from app.spaces.schemas import AFFECTED, AffectedList


class DayChange(DaySet):
    affected: AffectedAction | None = AFFECTED


class DayChanged(DaySetOut):
    affected: AffectedList
