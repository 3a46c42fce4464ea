import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import IdField, Printable
from app.holidays.days import DayType, Source
from app.models import DayKind

DayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Printable
]


class CalendarDayOut(BaseModel):
    date: dt.date
    weekday: int  # 0 = Monday
    type: DayType  # weekday, weekend, holiday (a day off) or workday (a weekend day of work)
    name: str | None
    source: Source  # official, everywhere, district, center, or provisional (no schedule yet)


class CalendarOut(BaseModel):
    days: list[CalendarDayOut]
    provisional_years: list[int] = Field(
        description="Years in the range whose official schedule is not known yet: their"
        " statutory days off (元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆) count as holidays,"
        " the other days as ordinary weekdays and weekends, until staff or an update of"
        " the official calendar say otherwise"
    )


class DaySet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DayKind
    name: DayName
    district: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    center_id: IdField | None = None


class DaySetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    day: dt.date
    kind: DayKind
    name: str
    district: str | None
    center_id: int | None


class DayOverview(BaseModel):
    official: CalendarDayOut
    set: list[DaySetOut]
