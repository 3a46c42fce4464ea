"""The screen at the door: staff issue its key (API); the tablet loads the
page and polls its state (outside the API: a device's, not a person's)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from app.core.db import DatabaseDep, SessionDep
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CurrentStaff
from app.kiosk import service

HERE = Path(__file__).parent
PATH = "/kiosk"
# The page loads its script and style only from /kiosk, and asks only /kiosk.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
templates = Jinja2Templates(directory=HERE / "templates")

admin_router = api_router("/admin/spaces", tags=["kiosk"])
router = APIRouter(prefix=PATH, include_in_schema=False)


class KioskKeyOut(BaseModel):
    space_id: int
    key: str = Field(description="Shown once; stored hashed")
    url: str = Field(description="The screen's page, relative to this service")


@admin_router.post(
    "/{space_id}/kiosk-key", response_model=KioskKeyOut, status_code=status.HTTP_201_CREATED
)
async def issue_kiosk_key(
    space_id: ResourceId, staff: CurrentStaff, session: SessionDep
) -> KioskKeyOut:
    """A key for the space's screen at the door (门口屏), and the page to open
    on the tablet with it. The key before stops working at once."""
    issued = await service.issue_key(session, staff, space_id)
    return KioskKeyOut(space_id=issued.space_id, key=issued.key, url=issued.url)


KeyQuery = Annotated[str, Query(min_length=1, max_length=100)]


@router.get("/spaces/{space_id}", response_class=HTMLResponse)
async def kiosk_page(
    request: Request, space_id: ResourceId, key: KeyQuery, session: SessionDep
) -> HTMLResponse:
    space = await service.authenticate(session, space_id, key)
    return templates.TemplateResponse(
        request, "kiosk.html", {"space_id": space.id, "name": space.name}
    )


@router.get("/spaces/{space_id}/state")
async def kiosk_state(
    space_id: ResourceId,
    database: DatabaseDep,
    key: Annotated[str, Header(alias="X-Kiosk-Key", min_length=1, max_length=100)],
) -> JSONResponse:
    """The page's state; the key travels in a header, kept out of access logs."""
    found = await service.state(database, space_id, key)
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")
