from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.core.schemas import IdField, LocalInstant, Patch, Printable, ShortText
from app.models import MemberRole, OrganizationKind, OrganizationStatus
from app.organizations.kinds import KIND_LABELS

Phone = Annotated[
    str,
    StringConstraints(pattern=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"),
    Field(description="A mainland mobile number, or a landline with its area code"),
]
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=50), Printable
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Printable
]


KIND_DESCRIPTION = (
    "company 企业 (a code required), party_branch 党支部 (no code; staff verify it), "
    "social_organization 社会组织 (a code starting with 5), community_team 社团/团队 "
    "(no code; staff verify it), partner_unit 共建单位 (a code if it has one)"
)


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: OrganizationKind = Field(default=OrganizationKind.company, description=KIND_DESCRIPTION)
    name: ShortText = Field(examples=["上海苏河湾数字科技有限公司"])
    uscc: str | None = Field(
        default=None,
        min_length=18,
        max_length=18,
        description="统一社会信用代码 (GB 32100-2015), as the kind requires or refuses it",
        examples=["91350100M000100Y43"],
    )
    contact_name: PersonName
    contact_phone: Phone
    center_id: IdField | None = Field(
        default=None, description="The center the organization registers with"
    )


class OrganizationUpdate(Patch):
    """The owner's changes. A new kind, name or code sends the organization back
    to staff for verification (``pending``); the contact alone does not. The
    kind and the code are checked together, as they will be after the change:
    ``uscc: null`` removes a code where the kind allows none."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"uscc"})

    kind: OrganizationKind | None = Field(default=None, description=KIND_DESCRIPTION)
    name: ShortText | None = None
    uscc: str | None = Field(default=None, min_length=18, max_length=18)
    contact_name: PersonName | None = None
    contact_phone: Phone | None = None


class OrganizationOut(BaseModel):
    id: int
    kind: OrganizationKind
    name: str
    uscc: str | None = Field(description="None for a kind without a code")
    contact_name: str
    contact_phone: str = Field(description="Masked except for the owner and staff")
    center_id: int | None
    status: OrganizationStatus
    status_reason: str | None
    my_role: MemberRole | None = Field(description="Your role, if you are a member")
    created_at: LocalInstant

    @computed_field(description="The kind in Chinese, e.g. 党支部")  # type: ignore[prop-decorator]
    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class InvitationOut(BaseModel):
    code: str = Field(description="One-time; give it to the colleague who should join")
    expires_at: LocalInstant


class JoinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MemberOut(BaseModel):
    user_id: int
    role: MemberRole
    joined_at: LocalInstant
    name_masked: str | None


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: IdField
