from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import IdField, LocalInstant, Patch, Printable, ShortText
from app.models import MemberRole, OrganizationStatus

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


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ShortText = Field(examples=["上海苏河湾数字科技有限公司"])
    uscc: str = Field(
        min_length=18,
        max_length=18,
        description="统一社会信用代码 (GB 32100-2015)",
        examples=["91350100M000100Y43"],
    )
    contact_name: PersonName
    contact_phone: Phone
    center_id: IdField | None = Field(
        default=None, description="The center the organization registers with"
    )


class OrganizationUpdate(Patch):
    """The owner's changes. A new name or code sends the organization back to
    staff for verification (``pending``); the contact alone does not."""

    name: ShortText | None = None
    uscc: str | None = Field(default=None, min_length=18, max_length=18)
    contact_name: PersonName | None = None
    contact_phone: Phone | None = None


class OrganizationOut(BaseModel):
    id: int
    name: str
    uscc: str
    contact_name: str
    contact_phone: str = Field(description="Masked except for the owner and staff")
    center_id: int | None
    status: OrganizationStatus
    status_reason: str | None
    my_role: MemberRole | None = Field(description="Your role, if you are a member")
    created_at: LocalInstant


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
