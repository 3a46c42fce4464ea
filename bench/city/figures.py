"""The city the load test builds: Shanghai's network of positions at full
scale, and the same shape shrunk by a factor for a run on 2 cores."""

from dataclasses import dataclass, fields, replace

# The 16 districts, each with a point near its middle (GCJ-02, as the centers'
# coordinates are kept) around which its positions are scattered.
DISTRICTS: tuple[tuple[str, float, float], ...] = (
    ("黄浦区", 31.2317, 121.4846),
    ("徐汇区", 31.1885, 121.4365),
    ("长宁区", 31.2204, 121.4241),
    ("静安区", 31.2290, 121.4480),
    ("普陀区", 31.2497, 121.3960),
    ("虹口区", 31.2646, 121.5052),
    ("杨浦区", 31.2595, 121.5260),
    ("闵行区", 31.1128, 121.3817),
    ("宝山区", 31.4051, 121.4895),
    ("嘉定区", 31.3747, 121.2655),
    ("浦东新区", 31.2215, 121.5447),
    ("金山区", 30.7419, 121.3419),
    ("松江区", 31.0323, 121.2277),
    ("青浦区", 31.1505, 121.1240),
    ("奉贤区", 30.9180, 121.4740),
    ("崇明区", 31.6231, 121.3975),
)
# How far from its district's middle a position may lie, in degrees each way:
# inside the map's widest box (app/map/service.py), so one box shows a district.
DISTRICT_HALF_SPAN = 0.12


@dataclass(frozen=True)
class City:
    """Counts of everything the build writes (the issue's full scale)."""

    districts: int = 16  # one district hub each
    street_centers: int = 250
    grid_stations: int = 1_500
    residential_stations: int = 6_000  # residential stations and posts
    spaces: int = 20_000
    study_rooms: int = 600  # each with a smart lock: a door and a keypad
    residents: int = 1_000_000
    past_reservations: int = 2_000_000

    def scaled(self, factor: float) -> "City":
        """Every count times ``factor`` (at least one of each), the 16 districts
        kept: a smaller city of the same shape."""
        if not 0 < factor <= 1:
            raise ValueError("the scale factor lies in (0, 1]")
        counts = {
            item.name: max(1, round(getattr(self, item.name) * factor))
            for item in fields(self)
            if item.name != "districts"
        }
        return replace(self, **counts)

    @property
    def positions(self) -> int:
        return self.districts + self.street_centers + self.grid_stations + self.residential_stations


FULL = City()
# What builds and runs within 15 minutes on 2 cores (README.md).
SMALL_SCALE = 0.05
