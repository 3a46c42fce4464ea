"""Organizations of every kind: a company, a party branch, a social
organization, a community team and a partner unit register with what their
kind says of a unified social credit code, staff verify them, and their
members, invitations, quotas and bookings work as a company's do. On both
engines, through HTTP (the staff side through the console too)."""

from datetime import date, timedelta
from typing import Any

import pytest

from app.core.clock import local_today
from app.models import KINDS_WITHOUT_USCC, OrganizationKind, StaffRole
from app.organizations.kinds import KIND_LABELS, KINDS, CodeRule
from app.organizations.uscc import check_character
from tests.factories import Api, Headers, Json, book, member_of, organization, uscc
from tests.test_console import console, post, staff_member
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

NEXT_MONDAY = local_today() + timedelta(days=7 - local_today().weekday())
THREE_WEEKS = 21  # the rooms take bookings up to the Monday after next and its week
LABELS = {
    "company": "企业",
    "party_branch": "党支部",
    "social_organization": "社会组织",
    "community_team": "社团/团队",
    "partner_unit": "共建单位",
}


def weekday(offset: int) -> date:
    return NEXT_MONDAY + timedelta(days=offset)


def code(first_ten: str, sequence: int) -> str:
    """A valid code beginning with ``first_ten`` (authority, type, region, and the
    start of the organization code)."""
    body = f"{first_ten}{sequence:07d}"
    return body + check_character(body)


def social(sequence: int) -> str:
    """A social organization's code: registered by civil affairs (5), a 社会团体 (1)."""
    return code("51310107MJ", sequence)


def institution(sequence: int) -> str:
    """A public institution's code (机构编制 1, 事业单位 2): a partner unit's."""
    return code("12310107MB", sequence)


def body(kind: str | None, code: str | None, **extra: Any) -> Json:
    sent: Json = {"name": "长风新村街道第一党支部", "contact_name": "孙书记"}
    sent["contact_phone"] = "13800138000"
    if kind is not None:
        sent["kind"] = kind
    if code is not None:
        sent["uscc"] = code
    return sent | extra


async def register(api: Api, owner: Headers, sent: Json) -> Any:
    return await api.client.post("/api/v1/organizations", json=sent, headers=owner)


async def listed(api: Api, staff: Headers, **params: str) -> list[Json]:
    response = await api.client.get(
        "/api/v1/admin/organizations", params={"limit": 100, **params}, headers=staff
    )
    assert response.status_code == 200, response.text
    items: list[Json] = response.json()["items"]
    return items


def test_the_kinds_are_declared_once_and_agree_with_the_tables() -> None:
    assert set(KINDS) == set(OrganizationKind)
    assert {kind.value: label for kind, label in KIND_LABELS.items()} == LABELS
    without = {kind for kind, rule in KINDS.items() if rule.code is CodeRule.none}
    assert without == set(KINDS_WITHOUT_USCC)


# --- registering ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "make_code"),
    [
        (None, uscc),  # no kind: a company, as before kinds
        ("company", uscc),
        ("party_branch", None),
        ("social_organization", social),
        ("community_team", None),
        ("partner_unit", institution),
        ("partner_unit", None),
    ],
)
async def test_every_kind_registers_with_what_it_has(
    api: Api, kind: str | None, make_code: Any
) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    sent_code = make_code(701) if make_code else None
    response = await register(api, owner, body(kind, sent_code, center_id=center["id"]))
    assert response.status_code == 201, response.text
    created = response.json()
    expected = kind or "company"
    assert (created["kind"], created["kind_label"]) == (expected, LABELS[expected])
    assert (created["uscc"], created["status"], created["my_role"]) == (
        sent_code,
        "pending",
        "owner",
    )
    mine = (await api.client.get("/api/v1/organizations/mine", headers=owner)).json()
    assert [(item["id"], item["kind"]) for item in mine["items"]] == [(created["id"], expected)]
    # Staff covering its center see it, with its kind, and can pick the kind out.
    assert [(row["id"], row["kind"]) for row in await listed(api, staff)] == [
        (created["id"], expected)
    ]
    assert [row["id"] for row in await listed(api, staff, kind=expected)] == [created["id"]]
    others = [other for other in LABELS if other != expected]
    for other in others:
        assert await listed(api, staff, kind=other) == []
    assert_problem(
        await api.client.get("/api/v1/admin/organizations", params={"kind": "club"}, headers=staff),
        422,
        "validation_failed",
    )


@pytest.mark.parametrize(
    ("kind", "sent_code", "status", "problem"),
    [
        ("company", None, 422, "uscc_required"),
        (None, None, 422, "uscc_required"),
        ("social_organization", None, 422, "uscc_required"),
        ("social_organization", uscc(702), 422, "uscc_kind_mismatch"),  # a company's code
        ("social_organization", institution(702), 422, "uscc_kind_mismatch"),
        ("social_organization", social(702)[:-1] + "0", 422, "invalid_uscc"),
        ("party_branch", uscc(702), 422, "uscc_not_allowed"),
        ("party_branch", social(702), 422, "uscc_not_allowed"),
        ("community_team", institution(702), 422, "uscc_not_allowed"),
        ("partner_unit", uscc(702)[:-1] + "0", 422, "invalid_uscc"),
        ("partner_unit", "12345", 422, "validation_failed"),
        ("club", None, 422, "validation_failed"),
        ("", None, 422, "validation_failed"),
    ],
)
async def test_a_code_the_kind_does_not_take_is_refused_and_changes_nothing(
    api: Api, kind: str | None, sent_code: str | None, status: int, problem: str
) -> None:
    staff = await api.staff()
    before = len(await listed(api, staff))
    owner = await api.resident()
    refused = await register(api, owner, body(kind, sent_code))
    found = assert_problem(refused, status, problem)
    if problem == "uscc_kind_mismatch":
        assert "5" in str(found["detail"])
    assert (await api.client.get("/api/v1/organizations/mine", headers=owner)).json()["total"] == 0
    assert len(await listed(api, staff)) == before


async def test_the_problems_say_the_kind_in_the_readers_language(api: Api) -> None:
    owner = await api.resident()
    refused = await register(api, owner, body("party_branch", uscc(703)))
    assert "党支部" in str(assert_problem(refused, 422, "uscc_not_allowed")["detail"])
    english = await api.client.post(
        "/api/v1/organizations",
        json=body("social_organization", uscc(703)),
        headers={**owner, "Accept-Language": "en"},
    )
    detail = str(assert_problem(english, 422, "uscc_kind_mismatch")["detail"])
    assert "social organization" in detail
    assert "5" in detail


async def test_a_code_is_one_organizations_whatever_its_kind(api: Api) -> None:
    taken = institution(704)
    first = await register(api, await api.resident(), body("partner_unit", taken))
    assert first.status_code == 201, first.text
    again = await register(api, await api.resident(), body("company", taken))
    assert_problem(again, 409, "uscc_taken")
    # Kinds without a code are many with none.
    for _ in range(2):
        none = await register(api, await api.resident(), body("partner_unit", None))
        assert none.status_code == 201, none.text


async def test_namesakes_without_a_code_may_register_and_staff_tell_them_apart(
    api: Api,
) -> None:
    """A name proves nothing: two party branches of one name at one center both
    register (refusing the second would let the first keep the real one out),
    and the console shows staff each one's namesakes before they decide."""
    center = await api.center()
    username = await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    first = await organization(
        api, await api.resident(), verified=False, kind="party_branch", center_id=center["id"]
    )
    second = await organization(
        api,
        await api.resident(),
        verified=False,
        kind="party_branch",
        name=first["name"],
        center_id=center["id"],
    )
    elsewhere = await organization(
        api, await api.resident(), verified=False, kind="party_branch", name=first["name"]
    )
    assert len({first["id"], second["id"], elsewhere["id"]}) == 3
    client = await console(api, username)
    page = (await client.get("/console/organizations")).text
    assert f"本中心另有同名单位：#{second['id']}" in page
    assert f"本中心另有同名单位：#{first['id']}" in page
    assert f"#{elsewhere['id']}" not in page  # another center's, and out of this staff's scope


# --- staff verify -----------------------------------------------------------------------


async def test_staff_verify_a_party_branch_in_the_console(api: Api) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    username = await staff_member(api, StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    branch = await organization(
        api, owner, verified=False, kind="party_branch", center_id=center["id"]
    )
    team = await organization(
        api, await api.resident(), verified=False, kind="community_team", center_id=center["id"]
    )
    company = await organization(api, await api.resident(), verified=False, center_id=center["id"])
    inbox = await api.client.get("/api/v1/admin/notifications", headers=staff)
    told = [item["body"] for item in inbox.json()["items"]]
    assert any(branch["name"] in text for text in told)

    client = await console(api, username)
    page = (await client.get("/console/organizations")).text
    for row, label in ((branch, "党支部"), (team, "社团/团队"), (company, "企业")):
        card = page.split(f'id="organization-{row["id"]}"')[1].split("</article>")[0]
        assert f'<span class="tag">{label}</span>' in card
    branch_card = page.split(f'id="organization-{branch["id"]}"')[1].split("</article>")[0]
    assert "无统一社会信用代码，请核实其身份" in branch_card
    assert company["uscc"] in page
    only_branches = (await client.get("/console/organizations?kind=party_branch")).text
    assert f"organization-{branch['id']}" in only_branches
    assert f"organization-{company['id']}" not in only_branches
    for label in LABELS.values():
        assert label in only_branches  # the kinds to pick from

    done = await post(client, f"/console/organizations/{branch['id']}/verify")
    assert done.status_code == 303
    seen = await api.client.get(f"/api/v1/organizations/{branch['id']}", headers=owner)
    assert (seen.json()["status"], seen.json()["kind"], seen.json()["uscc"]) == (
        "verified",
        "party_branch",
        None,
    )
    mine = await api.client.get("/api/v1/me/notifications", headers=owner)
    assert "organization_verified" in [item["kind"] for item in mine.json()["items"]]
    verified = (await client.get("/console/organizations?status=verified")).text
    assert f"organization-{branch['id']}" in verified
    assert "党支部" in verified


# --- members, invitations, quotas, bookings ---------------------------------------------


@pytest.mark.parametrize("kind", ["party_branch", "community_team"])
async def test_an_organization_without_a_code_books_like_a_company(api: Api, kind: str) -> None:
    staff = await api.staff()
    center = await api.center(staff)
    space = await api.space(center["id"], staff, advance_days=THREE_WEEKS)
    rule = {"subject": "organization", "metric": "bookings_per_week", "max_value": 1}
    quotas = await api.client.put(
        f"/api/v1/admin/spaces/{space['id']}/quotas", json=[rule], headers=staff
    )
    assert quotas.status_code == 200, quotas.text
    owner = await api.resident()
    org = await organization(api, owner, verified=False, kind=kind, center_id=center["id"])
    refused = await book(
        api, owner, space["id"], weekday(0), "10:00", "11:00", organization_id=org["id"]
    )
    assert_problem(refused, 403, "organization_not_verified")
    verified = await api.client.post(
        f"/api/v1/admin/organizations/{org['id']}/verify", headers=staff
    )
    assert (verified.json()["status"], verified.json()["kind"]) == ("verified", kind)

    member = await member_of(api, owner, org["id"])  # an invitation, used
    members = await api.client.get(f"/api/v1/organizations/{org['id']}/members", headers=owner)
    assert sorted(item["role"] for item in members.json()["items"]) == ["member", "owner"]
    seen = await api.client.get(f"/api/v1/organizations/{org['id']}", headers=member)
    assert (seen.json()["my_role"], seen.json()["kind_label"]) == ("member", LABELS[kind])

    booked = await book(
        api, member, space["id"], weekday(0), "10:00", "11:00", organization_id=org["id"]
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["organization_name"] == org["name"]
    listing = await api.client.get(
        "/api/v1/reservations", params={"organization_id": org["id"]}, headers=owner
    )
    assert [item["id"] for item in listing.json()["items"]] == [booked.json()["id"]]

    # The organization's quota rule holds for all its members together.
    over = await book(
        api, owner, space["id"], weekday(2), "10:00", "11:00", organization_id=org["id"]
    )
    quota: Any = assert_problem(over, 409, "quota_exceeded")["quota"]
    assert (quota["subject"], quota["used"], quota["limit"]) == ("organization", 1, 1)
    usage = await api.client.get(
        f"/api/v1/organizations/{org['id']}/quota",
        params={"date": weekday(0).isoformat()},
        headers=member,
    )
    assert [(row["metric"], row["used"]) for row in usage.json()["items"]] == [
        ("bookings_per_week", 1)
    ]
    personal = await book(api, owner, space["id"], weekday(2), "10:00", "11:00")
    assert personal.status_code == 201, personal.text  # their own, not the organization's

    # A member who leaves loses what they booked on its account.
    left = await api.client.post(f"/api/v1/organizations/{org['id']}/leave", headers=member)
    assert left.status_code == 204
    gone = await api.client.get(f"/api/v1/reservations/{booked.json()['id']}", headers=owner)
    assert gone.json()["status"] == "cancelled"
    exported = await api.client.get("/api/v1/me/export", headers=owner)
    assert [
        (row["organization_id"], row["organization_kind"])
        for row in exported.json()["organizations"]
    ] == [(org["id"], kind)]


# --- the owner changes the kind or the code ----------------------------------------------


async def patch(api: Api, owner: Headers, organization_id: int, **changes: Any) -> Any:
    return await api.client.patch(
        f"/api/v1/organizations/{organization_id}", json=changes, headers=owner
    )


@pytest.mark.parametrize(
    ("kind", "change", "problem"),
    [
        ("company", {"uscc": None}, "uscc_required"),
        ("company", {"kind": "social_organization"}, "uscc_kind_mismatch"),  # its code is 9…
        ("company", {"kind": "party_branch"}, "uscc_not_allowed"),  # the code must go
        ("party_branch", {"uscc": "CODE"}, "uscc_not_allowed"),
        ("party_branch", {"kind": "company"}, "uscc_required"),
        ("community_team", {"kind": "social_organization"}, "uscc_required"),
        ("community_team", {"kind": "social_organization", "uscc": "CODE"}, "uscc_kind_mismatch"),
        ("partner_unit", {"kind": "community_team"}, "uscc_not_allowed"),
        ("partner_unit", {"uscc": "BAD"}, "invalid_uscc"),
        ("partner_unit", {"kind": None}, "validation_failed"),
        ("partner_unit", {"kind": "club"}, "validation_failed"),
    ],
)
async def test_a_change_that_breaks_the_kinds_rule_changes_nothing(
    api: Api, kind: str, change: dict[str, Any], problem: str
) -> None:
    owner = await api.resident()
    org = await organization(api, owner, kind=kind)
    path = f"/api/v1/organizations/{org['id']}"
    before = (await api.client.get(path, headers=owner)).json()
    sent = {
        field: {"CODE": uscc(705), "BAD": uscc(705)[:-1] + "0"}.get(value, value)
        if isinstance(value, str)
        else value
        for field, value in change.items()
    }
    assert_problem(await patch(api, owner, org["id"], **sent), 422, problem)
    after = (await api.client.get(path, headers=owner)).json()
    assert after == before
    assert (after["kind"], after["status"]) == (kind, "verified")


async def test_a_team_that_registers_with_civil_affairs_becomes_a_social_organization(
    api: Api,
) -> None:
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    owner = await api.resident()
    team = await organization(api, owner, kind="community_team", center_id=center["id"])
    assert team["status"] == "verified"
    changed = await patch(api, owner, team["id"], kind="social_organization", uscc=social(706))
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["uscc"], changed.json()["status"]) == (
        "social_organization",
        social(706),
        "pending",  # a new claim: staff verify it anew
    )
    inbox = await api.client.get("/api/v1/admin/notifications", headers=staff)
    told = [item["body"] for item in inbox.json()["items"]]
    assert any("类别" in text and "重新认证" in text for text in told)

    # A partner unit drops its code only with a kind that has none.
    unit_owner = await api.resident()
    unit = await organization(api, unit_owner, kind="partner_unit")
    kept = await patch(api, unit_owner, unit["id"], contact_name="王主任")
    assert (kept.json()["status"], kept.json()["uscc"]) == ("verified", unit["uscc"])
    dropped = await patch(api, unit_owner, unit["id"], uscc=None)
    assert dropped.status_code == 200, dropped.text
    assert (dropped.json()["uscc"], dropped.json()["status"]) == (None, "pending")
    branch = await patch(api, unit_owner, unit["id"], kind="party_branch")
    assert (branch.json()["kind"], branch.json()["uscc"]) == ("party_branch", None)
