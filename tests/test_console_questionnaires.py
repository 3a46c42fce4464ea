"""The console's questionnaires: listed within one's scope, published and
closed, their results read and their responses downloaded, as the API's
(tests/test_questionnaires.py)."""

import time_machine

from app.models import StaffRole
from tests.factories import Api
from tests.test_console import console, post, staff_member
from tests.test_docs import EXTERNAL
from tests.test_questionnaires import CHANGFENG, DURING, PUTUO, created, full_answers, respond


async def test_a_questionnaire_is_published_read_and_closed_in_the_console(api: Api) -> None:
    with time_machine.travel(DURING, tick=True):
        district = await api.staff(StaffRole.district_admin, district=PUTUO)
        await api.center(street=CHANGFENG)
        draft = await created(api, district, {"district": PUTUO})
        admin = await console(
            api, await staff_member(api, StaffRole.district_admin, district=PUTUO)
        )
        listing = await admin.get("/console/questionnaires")
        assert listing.status_code == 200, listing.text
        assert EXTERNAL.findall(listing.text) == []
        assert f'id="questionnaire-{draft["id"]}"' in listing.text
        page = f"/console/questionnaires/{draft['id']}"

        published = await post(admin, f"{page}/publish")
        assert "notice=questionnaire_published" in published.headers["location"]
        again = await post(admin, f"{page}/publish")
        assert "error=" in again.headers["location"]
        resident = await api.resident()
        answered = await respond(api, resident, draft, full_answers(draft, single=1))
        assert answered.status_code == 201, answered.text

        results = await admin.get(page)
        assert results.status_code == 200, results.text
        assert "1 份" in results.text
        assert "健身：1（100%）" in results.text
        assert "多开夜场" in results.text
        download = await admin.get(f"{page}/responses", params={"format": "csv"})
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        assert "多开夜场" in download.content.decode("utf-8-sig")

        closed = await post(admin, f"{page}/close")
        assert "notice=questionnaire_closed" in closed.headers["location"]
        assert "已结束" in (await admin.get(page)).text

        elsewhere = await console(
            api, await staff_member(api, StaffRole.district_admin, district="黄浦区")
        )
        assert (
            f'id="questionnaire-{draft["id"]}"'
            not in (await elsewhere.get("/console/questionnaires")).text
        )
        refused = await elsewhere.get(page)
        assert "error=" in refused.headers["location"]
