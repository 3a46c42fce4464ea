"""CPU time of expanding a recurring booking's RRULE, worst cases first.

    .venv/bin/python -m bench.series             # every rule of the grid, ~1 minute
    .venv/bin/python -m bench.series --smoke     # a few rules: seconds
    .venv/bin/python -m bench.series --dateutil  # also python-dateutil on the same rules

It expands (parses, walks and checks, as ``POST /reservation-series`` does
before it books anything) a grid of rules in the accepted parts, from starts
on every weekday and in months of 28 to 31 days, each many times, and prints
the slowest, with the days each one looked at (a year at most) and its CPU
time per expansion (median and worst of its runs). Rules that never match
and rules that match rarely are the worst cases: they look at every day of
the horizon. ``--dateutil`` times python-dateutil's ``rrule`` on the worst
ones and on ``FREQ=DAILY;BYSETPOS=2;COUNT=1`` (once each, in a subprocess
that is stopped after 60 s): the expansion before issue 22.
"""

import argparse
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.core.clock import SHANGHAI
from app.core.errors import AppError
from app.series import rrules
from app.series.rrules import MAX_INTERVAL, Frequency, Recurrence

# Monday 1 April 2030 (30 days), and starts on every weekday in months of 28, 29 and 31 days.
STARTS = [
    datetime(2030, 4, 1, 14, tzinfo=SHANGHAI),
    datetime(2030, 2, 5, 9, tzinfo=SHANGHAI),
    datetime(2032, 2, 11, 19, tzinfo=SHANGHAI),
    datetime(2030, 1, 31, 8, tzinfo=SHANGHAI),
    datetime(2030, 5, 30, 20, tzinfo=SHANGHAI),
    datetime(2030, 6, 29, 7, tzinfo=SHANGHAI),
    datetime(2030, 12, 29, 23, 30, tzinfo=SHANGHAI),
]
NEVER = "FREQ=DAILY;BYSETPOS=2;COUNT=1"  # refused now; seconds before


# Known worst cases: rules that never match look at every day of the horizon.
SMOKE = [
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU;COUNT=1",
    "FREQ=MONTHLY;BYDAY=1MO;BYMONTHDAY=15;COUNT=1",
    "FREQ=DAILY;UNTIL={until}",
]


def grid(smoke: bool) -> Iterator[str]:
    """Rules in the accepted parts: every frequency, intervals, weekdays plain and
    ordinal, month days, one occurrence, 52, or every one for a year."""
    if smoke:
        yield from SMOKE
        return
    by_days = ["", "BYDAY=TU", "BYDAY=MO,TU,WE,TH,FR,SA,SU"]
    nth = ["BYDAY=1MO", "BYDAY=5SU", "BYDAY=-5FR,5MO,5TU,5WE,5TH,5SA,5SU"]
    month_days = ["", "BYMONTHDAY=15", "BYMONTHDAY=31", "BYMONTHDAY=31,30,29,-31,-30"]
    ends = ["COUNT=1", "COUNT=52", "UNTIL={until}"]
    for frequency in Frequency:
        intervals = sorted({1, 2, 7, 12, MAX_INTERVAL[frequency]})
        days = by_days + nth if frequency is Frequency.MONTHLY else by_days
        dates = [""] if frequency is Frequency.WEEKLY else month_days
        for interval, by_day, by_date, end in itertools.product(intervals, days, dates, ends):
            parts = [f"FREQ={frequency}", f"INTERVAL={interval}", by_day, by_date, end]
            yield ";".join(part for part in parts if part)


@dataclass
class Timing:
    rule: str
    start: datetime
    examined: int
    outcome: str
    median_us: float
    worst_us: float


def days_looked_at(rule: str, start: datetime) -> int:
    count = 0
    real = Recurrence.in_period

    def counted(self: Recurrence, day: date, first: date) -> bool:
        nonlocal count
        count += 1
        return real(self, day, first)

    Recurrence.in_period = counted  # type: ignore[method-assign]
    try:
        expand(rule, start)
    finally:
        Recurrence.in_period = real  # type: ignore[method-assign]
    return count


def expand(rule: str, start: datetime) -> str:
    try:
        return f"{len(rrules.occurrences(rule, start, start + timedelta(hours=1)))} occurrences"
    except AppError as refusal:
        return refusal.code


def time_rule(rule: str, start: datetime, runs: int) -> Timing:
    samples = []
    outcome = ""
    for _ in range(runs):
        began = time.process_time_ns()
        outcome = expand(rule, start)
        samples.append((time.process_time_ns() - began) / 1000)
    return Timing(
        rule, start, days_looked_at(rule, start), outcome, statistics.median(samples), max(samples)
    )


def until_for(start: datetime) -> str:
    return (start.date() + timedelta(days=rrules.HORIZON_DAYS - 1)).strftime("%Y%m%d")


DATEUTIL_SCRIPT = """
import sys, time
from datetime import datetime
from dateutil.rrule import rrulestr
from app.core.clock import SHANGHAI
start = datetime.fromisoformat(sys.argv[2])
began = time.process_time()
found = list(rrulestr(sys.argv[1], dtstart=start)[:53])
print(f"{len(found)} occurrences, {time.process_time() - began:.3f} s")
"""


def by_dateutil(rule: str, start: datetime) -> str:
    """python-dateutil's expansion of the rule (UNTIL given in UTC, as it wants)."""
    if "UNTIL=" in rule:
        rule = rule.replace(until_for(start), until_for(start) + "T155959Z")
    try:
        done = subprocess.run(
            [sys.executable, "-c", DATEUTIL_SCRIPT, rule, start.isoformat()],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "over 60 s (stopped)"
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few rules, a few runs")
    parser.add_argument("--dateutil", action="store_true", help="python-dateutil too")
    parser.add_argument("--runs", type=int, default=None, help="runs per rule and start")
    parser.add_argument("--top", type=int, default=10, help="rows of the table")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.smoke else 20)
    starts = STARTS[:2] if args.smoke else STARTS
    timings = [
        time_rule(template.format(until=until_for(start)), start, runs)
        for template in grid(args.smoke)
        for start in starts
    ]
    timings.sort(key=lambda timing: timing.worst_us, reverse=True)
    print(
        f"{len(timings)} expansions ({len(timings) // len(starts)} rules x {len(starts)} starts),"
        f" {runs} runs each; CPU per expansion"
    )
    print()
    print("| rule | first start | days looked at | outcome | median µs | worst µs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for timing in timings[: args.top]:
        print(
            f"| `{timing.rule}` | {timing.start:%a %Y-%m-%d %H:%M} | {timing.examined} |"
            f" {timing.outcome} | {timing.median_us:,.0f} | {timing.worst_us:,.0f} |"
        )
    medians = [timing.median_us for timing in timings]
    print()
    print(
        f"every expansion: median {statistics.median(medians):,.0f} µs, slowest median"
        f" {max(medians):,.0f} µs, slowest single run {timings[0].worst_us:,.0f} µs;"
        f" most days looked at {max(timing.examined for timing in timings)}"
        f" (horizon {rrules.HORIZON_DAYS})"
    )
    refused = time_rule(NEVER, STARTS[0], runs)
    print(f"`{NEVER}`: {refused.outcome}, median {refused.median_us:,.0f} µs")
    if args.dateutil:
        print()
        print("python-dateutil on the same rules (one run each):")
        for timing in [refused, *timings[:3]]:
            answer = by_dateutil(timing.rule, timing.start)
            print(f"- `{timing.rule}` from {timing.start:%Y-%m-%d}: {answer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
