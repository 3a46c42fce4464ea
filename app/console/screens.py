"""The console's part in the screen at a space's door (门口屏, app/kiosk):
issuing its key. The page to open on the tablet is shown once, here, as the
API shows it once: the key is stored only hashed."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import auth
from app.console.pages import Notice, act, render
from app.core.schemas import ResourceId
from app.identity.principals import StaffPrincipal
from app.kiosk import service as kiosk

router = APIRouter(prefix=auth.PATH, include_in_schema=False)


@router.post("/spaces/{space_id}/kiosk-key", response_class=HTMLResponse)
async def issue_kiosk_key(request: Request, space_id: ResourceId) -> Response:
    issued: list[kiosk.IssuedKey] = []

    async def work(session: AsyncSession, staff: StaffPrincipal) -> Notice:
        issued.append(await kiosk.issue_key(session, staff, space_id))
        return Notice("kiosk_key_issued", space_id)

    answer = await act(request, f"{auth.PATH}/spaces/{space_id}", work)
    if not issued:
        return answer
    async with request.app.state.database.reader.begin() as session:
        staff = await auth.load(session, request.app.state.settings, auth.session_token(request))
    address = f"{request.base_url}".rstrip("/") + issued[0].url
    return render(request, "kiosk_key.html", staff, space_id=space_id, address=address)
