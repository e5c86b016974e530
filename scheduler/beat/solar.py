"""Sun events at a place, via astral. Pure: dates in, instants out.

Events: ``sunrise``, ``sunset``, ``noon`` (solar noon), ``dawn`` / ``dusk`` (civil, the sun 6
degrees below the horizon) and their ``_nautical`` (12) and ``_astronomical`` (18) variants.
A day on which the event does not happen (polar day or night) has no tick.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from astral import Depression, Observer
from astral import sun as astral_sun

SEARCH_DAYS = 370
"""Look this far ahead for the next event (polar night can last months)."""


class SolarEvent(StrEnum):
    SUNRISE = "sunrise"
    SUNSET = "sunset"
    NOON = "noon"
    DAWN = "dawn"
    DUSK = "dusk"
    DAWN_NAUTICAL = "dawn_nautical"
    DUSK_NAUTICAL = "dusk_nautical"
    DAWN_ASTRONOMICAL = "dawn_astronomical"
    DUSK_ASTRONOMICAL = "dusk_astronomical"


def event_on(event: SolarEvent, latitude: float, longitude: float, day: date) -> datetime | None:
    """The event's instant (UTC) for the UTC date ``day``; None if the sun does not do it."""
    observer = Observer(latitude=latitude, longitude=longitude)
    name, _, variant = event.value.partition("_")
    try:
        if name in ("dawn", "dusk"):
            depression = Depression[(variant or "civil").upper()]
            twilight = astral_sun.dawn if name == "dawn" else astral_sun.dusk
            result: datetime = twilight(observer, day, depression=depression, tzinfo=UTC)
        else:
            func = {"sunrise": astral_sun.sunrise, "sunset": astral_sun.sunset}.get(
                name, astral_sun.noon
            )
            result = func(observer, day, tzinfo=UTC)
    except ValueError:  # "Sun never reaches ..." on polar days and nights
        return None
    return result.replace(microsecond=0)


def next_solar(
    event: SolarEvent, latitude: float, longitude: float, after: datetime
) -> datetime | None:
    """The first occurrence of ``event`` strictly after ``after``."""
    first_day = after.astimezone(UTC).date() - timedelta(days=1)
    best: datetime | None = None
    for offset in range(SEARCH_DAYS):
        found = event_on(event, latitude, longitude, first_day + timedelta(days=offset))
        if found is not None and found > after and (best is None or found < best):
            best = found
        elif best is not None and offset > 2:
            return best
    return best
