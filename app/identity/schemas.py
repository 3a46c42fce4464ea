from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
