"""The demo's centers, spaces and companies, from the news articles the project
grew from (see ``app/demo.py``, which loads them)."""

from dataclasses import dataclass, field

from app.core.clock import parse_wall_clock
from app.models import BookingMode, CenterKind, QuotaMetric, QuotaSubject, SpaceKind

DEMO_DOOR_NAME = "阅心书斋正门"

EVERY_DAY = range(7)
WEEKDAYS = range(5)


def hours(opens: str, closes: str, days: range = EVERY_DAY) -> list[tuple[int, int, int]]:
    return [(day, parse_wall_clock(opens), parse_wall_clock(closes)) for day in days]


@dataclass
class DemoSpace:
    name: str
    kind: SpaceKind
    capacity: int
    booking_mode: BookingMode = BookingMode.exclusive
    slot_minutes: int = 30
    min_minutes: int = 60
    max_minutes: int = 240
    advance_days: int = 14
    open_24h: bool = False
    opening: list[tuple[int, int, int]] = field(default_factory=lambda: hours("09:00", "21:00"))
    requires_approval: bool = False
    requires_real_name: bool = False
    requires_organization: bool = False
    requires_check_in: bool = False
    release_time: str | None = None
    facilities: list[str] = field(default_factory=list)
    description: str = ""
    door: str | None = None


@dataclass
class DemoCenter:
    name: str
    kind: CenterKind
    district: str
    street: str
    address: str
    lat: float
    lng: float
    phone: str
    description: str
    spaces: list[DemoSpace]


MEETING_FACILITIES = ["空调", "饮水", "充电", "投影", "白板", "无线网络"]

CENTERS = [
    DemoCenter(
        name="半马苏河驿站·长风湾党群服务中心",
        kind=CenterKind.post,
        district="普陀区",
        street="长风新村街道",
        address="上海市普陀区云岭东路89号",
        lat=31.2236,
        lng=121.3982,
        phone="021-52560000",
        description="毗邻苏州河岸线。会议室免费向周边企业开放，有空调、能饮水、可充电，提前预约即可。",
        spaces=[
            DemoSpace(
                name="苏河会议室",
                kind=SpaceKind.meeting_room,
                capacity=16,
                # Closed on Sundays, and on statutory holidays; open on a Sunday
                # moved to work (调休), with Monday's hours.
                opening=hours("09:00", "21:00", range(0, 6)),
                # Companies book their weekly meetings a season ahead.
                advance_days=90,
                requires_organization=True,
                facilities=MEETING_FACILITIES,
                description="可举办企业会议、路演、沙龙，约 16 人。",
            ),
            DemoSpace(
                name="长风洽谈室",
                kind=SpaceKind.meeting_room,
                capacity=8,
                facilities=["空调", "饮水", "充电", "电视屏"],
                description="小型洽谈、面试。",
            ),
            DemoSpace(
                name="长风议事厅",
                kind=SpaceKind.activity_room,
                capacity=30,
                requires_approval=True,
                facilities=["空调", "饮水", "话筒", "投影"],
                description="楼组议事、居民会议，需工作人员审批。",
            ),
        ],
    ),
    DemoCenter(
        name="半马苏河驿站·1690党群服务中心",
        kind=CenterKind.street_center,
        district="普陀区",
        street="宜川路街道",
        address="上海市普陀区远景路97弄中远两湾城",
        lat=31.2476,
        lng=121.4383,
        phone="021-56060000",
        description=(
            "服务中远两湾城近 5 万居民，沿苏州河岸线 1690 米。社区食堂、卫生服务站、照相馆。"
        ),
        spaces=[
            DemoSpace(
                name="家门口照相馆",
                kind=SpaceKind.photo_studio,
                capacity=4,
                slot_minutes=30,
                min_minutes=30,
                max_minutes=60,
                advance_days=7,
                description="证件照、亲子照。",
            ),
            DemoSpace(
                name="两湾城议事厅",
                kind=SpaceKind.meeting_room,
                capacity=30,
                requires_approval=True,
                facilities=MEETING_FACILITIES,
                description="居民议事会、业委会会议，需工作人员审核。",
            ),
        ],
    ),
    DemoCenter(
        name="长征镇丽湖居民区党群服务站",
        kind=CenterKind.residential_station,
        district="普陀区",
        street="长征镇",
        address="上海市普陀区长征镇丽湖居民区",
        lat=31.2412,
        lng=121.3877,
        phone="021-62650000",
        description="居民家门口的会客厅。“沪漂自习室”阅心书斋 24 小时开放。",
        spaces=[
            DemoSpace(
                name="阅心书斋",
                kind=SpaceKind.study_room,
                capacity=10,
                booking_mode=BookingMode.shared,
                slot_minutes=30,
                min_minutes=60,
                max_minutes=480,
                advance_days=3,
                open_24h=True,
                opening=[],
                requires_real_name=True,
                # An unattended room is fair only if a seat nobody came for is
                # freed: check in within 15 minutes of the start.
                requires_check_in=True,
                release_time="08:00",
                door=DEMO_DOOR_NAME,
                facilities=["六边形自习桌", "台灯", "充电", "饮水", "无线网络"],
                description=(
                    "“沪漂自习室”：一张六边形大桌，可容纳 10 余人。实名认证后获取随机密码进入。"
                ),
            ),
        ],
    ),
    DemoCenter(
        name="梅陇镇党群服务中心",
        kind=CenterKind.street_center,
        district="闵行区",
        street="梅陇镇",
        address="上海市闵行区梅陇镇莲花南路",
        lat=31.1326,
        lng=121.4271,
        phone="021-64120000",
        description="推倒围墙、敞开大门：路过的市民、外卖骑手累了可歇脚，饿了能就餐。",
        spaces=[
            DemoSpace(
                name="多功能会议室",
                kind=SpaceKind.meeting_room,
                capacity=40,
                opening=hours("08:30", "20:30"),
                facilities=MEETING_FACILITIES,
            ),
            DemoSpace(
                name="小剧场",
                kind=SpaceKind.theater,
                capacity=120,
                min_minutes=120,
                max_minutes=480,
                advance_days=30,
                requires_approval=True,
                facilities=["舞台", "音响", "灯光"],
            ),
        ],
    ),
    DemoCenter(
        name="紫藤党群服务中心",
        kind=CenterKind.street_center,
        district="闵行区",
        street="古美路街道",
        address="上海市闵行区古美路街道平南路",
        lat=31.1487,
        lng=121.4035,
        phone="021-64010000",
        description="街镇阵地，健康养老、文化体育、亲子教育服务。",
        spaces=[
            DemoSpace(
                name="紫藤活动室",
                kind=SpaceKind.activity_room,
                capacity=25,
                opening=hours("09:00", "17:00", WEEKDAYS) + hours("09:00", "12:00", range(5, 7)),
            ),
            DemoSpace(
                name="共享健身房",
                kind=SpaceKind.gym,
                capacity=15,
                booking_mode=BookingMode.shared,
                min_minutes=30,
                max_minutes=120,
                advance_days=2,
                opening=hours("06:30", "21:30"),
                facilities=["跑步机", "动感单车", "更衣室"],
            ),
        ],
    ),
    DemoCenter(
        name="夏朵园党群服务站",
        kind=CenterKind.residential_station,
        district="闵行区",
        street="马桥镇",
        address="上海市闵行区马桥镇夏朵园小区",
        lat=31.0398,
        lng=121.3632,
        phone="021-64090000",
        description="三幢分体建筑、800 平方米：生花社区客厅、花境、咖啡、剧场。",
        spaces=[
            DemoSpace(
                name="生花社区客厅",
                kind=SpaceKind.activity_room,
                capacity=20,
            ),
            DemoSpace(
                name="夏朵剧场",
                kind=SpaceKind.theater,
                capacity=80,
                min_minutes=120,
                max_minutes=360,
                advance_days=30,
                requires_approval=True,
            ),
        ],
    ),
    DemoCenter(
        name="白玉兰党群服务站",
        kind=CenterKind.grid_station,
        district="虹口区",
        street="北外滩街道",
        address="上海市虹口区东长治路588号白玉兰广场",
        lat=31.2490,
        lng=121.5015,
        phone="021-65150000",
        description="楼宇党群服务站：让楼宇企业、党员白领“足不出楼”享受一站式服务。",
        spaces=[
            DemoSpace(
                name="白玉兰会议室",
                kind=SpaceKind.meeting_room,
                capacity=12,
                opening=hours("09:00", "18:00", WEEKDAYS),
                facilities=MEETING_FACILITIES,
            ),
        ],
    ),
    DemoCenter(
        name="吴泾镇青藤党群服务中心",
        kind=CenterKind.street_center,
        district="闵行区",
        street="吴泾镇",
        address="上海市闵行区吴泾镇",
        lat=31.0559,
        lng=121.4557,
        phone="021-64500000",
        description="闵行区党群服务阵地媒体开放日参观点。",
        spaces=[
            DemoSpace(
                name="青藤共享自习室",
                kind=SpaceKind.study_room,
                capacity=24,
                booking_mode=BookingMode.shared,
                min_minutes=60,
                max_minutes=360,
                advance_days=3,
                opening=hours("08:00", "22:00"),
                requires_real_name=True,
            ),
        ],
    ),
]


def _network_node(
    name: str, kind: CenterKind, district: str, street: str, address: str, lat: float, lng: float
) -> DemoCenter:
    """A position of the network with no rooms of its own in the demo."""
    return DemoCenter(
        name=name,
        kind=kind,
        district=district,
        street=street,
        address=address,
        lat=lat,
        lng=lng,
        phone="",
        description="",
        spaces=[],
    )


# The branches of Putuo's and Minhang's networks the demo centers hang in: a
# district hub, its street centers, grid stations and residential stations.
CENTERS += [
    _network_node(
        "普陀区党群服务中心",
        CenterKind.district_hub,
        "普陀区",
        "",
        "上海市普陀区大渡河路1668号",
        31.2494,
        121.4006,
    ),
    _network_node(
        "长风新村街道党群服务中心",
        CenterKind.street_center,
        "普陀区",
        "长风新村街道",
        "上海市普陀区长风新村街道",
        31.2285,
        121.4042,
    ),
    _network_node(
        "长风新村街道长风湾片区党群服务站",
        CenterKind.grid_station,
        "普陀区",
        "长风新村街道",
        "上海市普陀区长风新村街道云岭东路",
        31.2251,
        121.4011,
    ),
    _network_node(
        "长风新村街道天山星城居民区党群服务站",
        CenterKind.residential_station,
        "普陀区",
        "长风新村街道",
        "上海市普陀区长风新村街道",
        31.2262,
        121.3951,
    ),
    _network_node(
        "长征镇党群服务中心",
        CenterKind.street_center,
        "普陀区",
        "长征镇",
        "上海市普陀区长征镇",
        31.2395,
        121.3789,
    ),
    _network_node(
        "闵行区党群服务中心",
        CenterKind.district_hub,
        "闵行区",
        "",
        "上海市闵行区沪闵路",
        31.1129,
        121.3817,
    ),
    _network_node(
        "古美路街道平阳片区党群服务站",
        CenterKind.grid_station,
        "闵行区",
        "古美路街道",
        "上海市闵行区古美路街道平阳路",
        31.1453,
        121.4101,
    ),
    _network_node(
        "马桥镇党群服务中心",
        CenterKind.street_center,
        "闵行区",
        "马桥镇",
        "上海市闵行区马桥镇",
        31.0327,
        121.3541,
    ),
    _network_node(
        "马桥镇彭渡片区党群服务站",
        CenterKind.grid_station,
        "闵行区",
        "马桥镇",
        "上海市闵行区马桥镇",
        31.0371,
        121.3598,
    ),
    _network_node(
        "古美路街道平南居民区党群服务站",
        CenterKind.residential_station,
        "闵行区",
        "古美路街道",
        "上海市闵行区古美路街道平南路",
        31.1472,
        121.4066,
    ),
]

# Each demo center's parent, by name (the same district's): a child's kind
# ranks below its parent's (app/centers/tree.py).
PARENTS = {
    "长风新村街道党群服务中心": "普陀区党群服务中心",
    "半马苏河驿站·1690党群服务中心": "普陀区党群服务中心",
    "长征镇党群服务中心": "普陀区党群服务中心",
    "长风新村街道长风湾片区党群服务站": "长风新村街道党群服务中心",
    "半马苏河驿站·长风湾党群服务中心": "长风新村街道长风湾片区党群服务站",
    "长风新村街道天山星城居民区党群服务站": "长风新村街道长风湾片区党群服务站",
    "长征镇丽湖居民区党群服务站": "长征镇党群服务中心",
    "梅陇镇党群服务中心": "闵行区党群服务中心",
    "紫藤党群服务中心": "闵行区党群服务中心",
    "吴泾镇青藤党群服务中心": "闵行区党群服务中心",
    "马桥镇党群服务中心": "闵行区党群服务中心",
    "古美路街道平阳片区党群服务站": "紫藤党群服务中心",
    "古美路街道平南居民区党群服务站": "古美路街道平阳片区党群服务站",
    "马桥镇彭渡片区党群服务站": "马桥镇党群服务中心",
    "夏朵园党群服务站": "马桥镇彭渡片区党群服务站",
}


@dataclass
class DemoOrganization:
    name: str
    uscc: str
    contact_name: str
    contact_phone: str
    owner_openid: str
    member_openids: list[str]


# Companies near the Changfengwan center that borrow its rooms (verified).
ORGANIZATIONS = [
    DemoOrganization(
        name="上海苏河湾数字科技有限公司",
        uscc="91310107MA1GB7KQ2B",
        contact_name="孙经理",
        contact_phone="13800138000",
        owner_openid="dev-demo-resident",
        member_openids=["dev-demo-colleague"],
    ),
    DemoOrganization(
        name="上海长风路演文化传播有限公司",
        uscc="91310107MA1H3NWX87",
        contact_name="李女士",
        contact_phone="021-52561234",
        owner_openid="dev-demo-roadshow",
        member_openids=[],
    ),
]
# Fair use at Changfengwan, over both its rooms: one company must not take
# every Friday afternoon.
CHANGFENGWAN_QUOTAS = [
    (QuotaSubject.organization, QuotaMetric.bookings_per_week, 5),
    (QuotaSubject.organization, QuotaMetric.hours_per_week, 12),
    (QuotaSubject.organization, QuotaMetric.future_bookings, 12),
    (QuotaSubject.user, QuotaMetric.bookings_per_week, 2),
]
