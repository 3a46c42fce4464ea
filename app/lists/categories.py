"""The codes of the four lists with their Chinese labels: declared once,
shown by the API (``*_label`` and ``GET /lists/categories``) and the summary."""

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from app.models import (
    NeedCategory,
    NeedSource,
    NeedStatus,
    NeedUrgency,
    ProjectStatus,
    ResourceKind,
    ResourceOfferer,
    ResourceStatus,
    ServedGroup,
)

CATEGORY_LABELS: dict[NeedCategory, str] = {
    NeedCategory.elderly_care: "为老服务",
    NeedCategory.childcare: "托育托管",
    NeedCategory.employment: "就业创业",
    NeedCategory.health: "健康医疗",
    NeedCategory.legal: "法律咨询",
    NeedCategory.education: "教育培训",
    NeedCategory.culture_sports: "文化体育",
    NeedCategory.living: "生活服务",
    NeedCategory.environment: "环境治理",
    NeedCategory.volunteering: "志愿服务",
    NeedCategory.other: "其他",
}

GROUP_LABELS: dict[ServedGroup, str] = {
    ServedGroup.white_collar: "白领",
    ServedGroup.delivery_riders: "骑手",
    ServedGroup.elderly: "老人",
    ServedGroup.children: "儿童",
    ServedGroup.youth: "青少年",
    ServedGroup.families: "家庭",
    ServedGroup.disabled: "残障人士",
    ServedGroup.veterans: "退役军人",
    ServedGroup.party_members: "党员",
    ServedGroup.residents: "居民",
    ServedGroup.other: "其他",
}

RESOURCE_KIND_LABELS: dict[ResourceKind, str] = {
    ResourceKind.room: "场地",
    ResourceKind.skills: "技能",
    ResourceKind.equipment: "设备",
    ResourceKind.volunteer_time: "志愿时间",
    ResourceKind.materials: "物资",
    ResourceKind.funds: "资金",
    ResourceKind.other: "其他",
}

URGENCY_LABELS: dict[NeedUrgency, str] = {
    NeedUrgency.low: "不急",
    NeedUrgency.normal: "一般",
    NeedUrgency.high: "较急",
    NeedUrgency.urgent: "紧急",
}

SOURCE_LABELS: dict[NeedSource, str] = {
    NeedSource.suggestion: "居民建议",
    NeedSource.questionnaire: "问卷调查",
    NeedSource.staff: "工作人员",
}

NEED_STATUS_LABELS: dict[NeedStatus, str] = {
    NeedStatus.open: "待满足",
    NeedStatus.met: "已满足",
}

OFFERER_LABELS: dict[ResourceOfferer, str] = {
    ResourceOfferer.resident: "居民",
    ResourceOfferer.organization: "组织",
    ResourceOfferer.staff: "工作人员登记",
}

RESOURCE_STATUS_LABELS: dict[ResourceStatus, str] = {
    ResourceStatus.offered: "待审核",
    ResourceStatus.accepted: "已入库",
    ResourceStatus.declined: "未采纳",
    ResourceStatus.withdrawn: "已撤回",
}

PROJECT_STATUS_LABELS: dict[ProjectStatus, str] = {
    ProjectStatus.planned: "筹备中",
    ProjectStatus.running: "进行中",
    ProjectStatus.completed: "已完成",
    ProjectStatus.cancelled: "已取消",
}


Code = TypeVar("Code", bound=StrEnum)


def _codes(labels: Mapping[Code, str]) -> dict[str, str]:
    return {code.value: label for code, label in labels.items()}


# Every code list the API names, code → label, for ``GET /lists/codes``.
CODE_LISTS: dict[str, dict[str, str]] = {
    "categories": _codes(CATEGORY_LABELS),
    "groups": _codes(GROUP_LABELS),
    "resource_kinds": _codes(RESOURCE_KIND_LABELS),
    "urgencies": _codes(URGENCY_LABELS),
    "sources": _codes(SOURCE_LABELS),
    "need_statuses": _codes(NEED_STATUS_LABELS),
    "offerers": _codes(OFFERER_LABELS),
    "resource_statuses": _codes(RESOURCE_STATUS_LABELS),
    "project_statuses": _codes(PROJECT_STATUS_LABELS),
}
