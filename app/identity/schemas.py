from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant
from app.models import StaffRole, StaffScope


class WechatLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=128,
        description="The mini-program's wx.login() code; `dev:<openid>` in development.",
        examples=["dev:demo-resident"],
    )


ChineseName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=2,
        max_length=30,
        pattern=r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff·A-Za-z ]+$",
    ),
]


class RealNameRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ChineseName = Field(description="As on the ID card", examples=["陈晓明"])
    id_number: str = Field(
        min_length=18,
        max_length=18,
        description="18-character resident ID number (GB 11643); a final X is upper-case",
        examples=["11010519491231002X"],
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    real_name_verified: bool
    name_masked: str | None
    id_number_masked: str | None
    nickname: str | None = Field(description="What the mini-program calls you; yours to change")
    phone_masked: str | None = Field(
        description="Your phone number as bound from WeChat, masked: `138****5678`",
        examples=["138****5678"],
    )
    created_at: LocalInstant


class UserToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    user: UserOut


class StaffToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    device_token: str = Field(
        description="Makes this client a trusted device: send it back with later logins "
        "in the Zhendi-Device-Token header (browsers keep it as the zhendi_device cookie)"
    )


class StaffOut(BaseModel):
    id: int
    username: str
    role: StaffRole
    district: str | None
    street: str | None
    scope: StaffScope
    center_ids: list[int]  # with scope subtree, the listed centers and every one below
    # Set: every other staff route answers 403 password_change_required.
    must_change_password: bool = False


Nickname = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=30,
        # Letters, digits, marks and spaces of any script; no control characters.
        pattern=r"^[^\x00-\x1f\x7f<>]+$",
    ),
]


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nickname: Nickname | None = Field(
        description="1–30 characters; `null` clears it", examples=["晓明"]
    )


class PhoneBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=128,
        description="The code of the mini-program's getPhoneNumber button; "
        "`dev:<mobile number>` in development",
        examples=["dev:13800138000"],
    )
