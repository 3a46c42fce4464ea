"""The categories of activity and who may come, with their Chinese labels:
declared once, shown by the API, the console and the reports."""

from app.models import ActivityAudience, ActivityCategory

CATEGORY_LABELS: dict[ActivityCategory, str] = {
    ActivityCategory.party_lecture: "党课",
    ActivityCategory.organization_life: "组织生活",
    ActivityCategory.lecture: "讲座",
    ActivityCategory.training: "培训",
    ActivityCategory.culture_sports: "文体",
    ActivityCategory.volunteering: "志愿服务",
    ActivityCategory.parent_child: "亲子",
    ActivityCategory.open_day: "开放日",
    ActivityCategory.deliberation: "议事会",
    ActivityCategory.other: "其他",
}

AUDIENCE_LABELS: dict[ActivityAudience, str] = {
    ActivityAudience.public: "公开",
    ActivityAudience.members: "本组织成员",
    ActivityAudience.party_members: "党员",
}
