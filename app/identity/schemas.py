from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import LocalInstant
from app.models import StaffRole


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


class StaffOut(BaseModel):
    id: int
    username: str
    role: StaffRole
    district: str | None
    center_ids: list[int]
