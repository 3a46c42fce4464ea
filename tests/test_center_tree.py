"""The network as one tree (README, "The network"): a center's parent ranks
above it, links never go upward nor form a cycle (422 invalid_parent); the
children, the ancestors (nearest first) and ``?parent_id=`` read the tree; a
center's view names its parent; the demo data builds Putuo's and Minhang's
branches."""

from typing import Any

from sqlalchemy import select

from app import demo
from app.demo_data import PARENTS
from app.models import Center
from tests.factories import Api, Headers, Json
from tests.test_errors import assert_problem


async def node(api: Api, kind: str, parent: Json | None = None, **overrides: Any) -> Json:
    body: dict[str, Any] = {"kind": kind, **overrides}
    if parent is not None:
        body["parent_id"] = parent["id"]
    return await api.center(**body)


async def branch(api: Api) -> tuple[Json, Json, Json, Json]:
    """A district hub, a street center below it, a grid station below that and
    a residential station below the grid station."""
    hub = await node(api, "district_hub")
    street = await node(api, "street_center", hub)
    grid = await node(api, "grid_station", street)
    home = await node(api, "residential_station", grid)
    return hub, street, grid, home


async def patch(api: Api, center: Json, headers: Headers | None = None, **body: Any) -> Any:
    return await api.client.patch(
        f"/api/v1/admin/centers/{center['id']}", json=body, headers=headers or await api.staff()
    )


async def test_a_center_names_its_parent_everywhere(api: Api) -> None:
    hub, street, _, _ = await branch(api)
    assert street["parent_id"] == hub["id"]
    assert street["parent_name"] == hub["name"]
    assert hub["parent_id"] is None
    assert hub["parent_name"] is None
    public = (await api.client.get(f"/api/v1/centers/{street['id']}")).json()
    assert (public["parent_id"], public["parent_name"]) == (hub["id"], hub["name"])
    admin = await api.client.get(f"/api/v1/admin/centers/{street['id']}", headers=await api.staff())
    assert admin.json()["parent_name"] == hub["name"]


async def test_children_ancestors_and_the_parent_filter(api: Api) -> None:
    hub, street, grid, home = await branch(api)
    post = await node(api, "post", grid)
    children = await api.client.get(f"/api/v1/centers/{grid['id']}/children")
    assert children.status_code == 200, children.text
    assert [child["id"] for child in children.json()] == [home["id"], post["id"]]
    assert {child["parent_name"] for child in children.json()} == {grid["name"]}

    ancestors = (await api.client.get(f"/api/v1/centers/{home['id']}/ancestors")).json()
    assert [center["id"] for center in ancestors] == [grid["id"], street["id"], hub["id"]]
    assert (await api.client.get(f"/api/v1/centers/{hub['id']}/ancestors")).json() == []

    listed = await api.client.get("/api/v1/centers", params={"parent_id": street["id"]})
    assert [center["id"] for center in listed.json()["items"]] == [grid["id"]]
    assert listed.json()["total"] == 1

    missing = await api.client.get("/api/v1/centers/999999/children")
    assert_problem(missing, 404, "not_found")
    assert_problem(await api.client.get("/api/v1/centers/999999/ancestors"), 404, "not_found")


async def test_a_parent_must_rank_above_its_child(api: Api) -> None:
    hub, street, grid, home = await branch(api)
    staff = await api.staff()
    for kind, parent in (
        ("district_hub", hub),  # the same rank
        ("street_center", grid),  # upward
        ("grid_station", home),
    ):
        body = {"kind": kind, "parent_id": parent["id"]}
        refused = await api.client.post(
            "/api/v1/admin/centers", json={**_body(api), **body}, headers=staff
        )
        assert_problem(refused, 422, "invalid_parent")
    # Skipping a level is allowed: a residential station straight below a street center.
    await node(api, "residential_station", street)
    assert_problem(await patch(api, grid, parent_id=home["id"]), 422, "invalid_parent")
    assert_problem(
        await api.client.post(
            "/api/v1/admin/centers",
            json={**_body(api), "kind": "post", "parent_id": 999999},
            headers=staff,
        ),
        422,
        "invalid_parent",
    )


def _body(api: Api) -> dict[str, Any]:
    from tests.factories import center_body

    return center_body()


async def test_no_cycles_and_no_kind_change_across_the_tree(api: Api) -> None:
    hub, street, grid, home = await branch(api)
    assert_problem(await patch(api, hub, parent_id=home["id"]), 422, "invalid_parent")
    assert_problem(await patch(api, street, parent_id=street["id"]), 422, "invalid_parent")
    # The street center cannot become a post: its grid station would rank above it.
    assert_problem(await patch(api, street, kind="post"), 422, "invalid_parent")
    # Nor the grid station a district hub: its parent would rank below it.
    assert_problem(await patch(api, grid, kind="district_hub"), 422, "invalid_parent")
    unchanged = (await api.client.get(f"/api/v1/centers/{grid['id']}")).json()
    assert (unchanged["kind"], unchanged["parent_id"]) == ("grid_station", street["id"])


async def test_a_center_moves_and_leaves_the_tree(api: Api) -> None:
    hub, street, grid, home = await branch(api)
    other = await node(api, "street_center", hub)
    moved = await patch(api, grid, parent_id=other["id"])
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent_id"], moved.json()["parent_name"]) == (other["id"], other["name"])
    detached = await patch(api, grid, parent_id=None)
    assert detached.status_code == 200, detached.text
    assert detached.json()["parent_id"] is None
    # Its kind may rise once nothing above it ranks higher, and its child stays below.
    risen = await patch(api, grid, kind="street_center")
    assert risen.status_code == 200, risen.text
    ancestors = (await api.client.get(f"/api/v1/centers/{home['id']}/ancestors")).json()
    assert [center["id"] for center in ancestors] == [grid["id"]]


async def test_linking_to_a_parent_outside_the_scope_is_refused(api: Api) -> None:
    from app.models import StaffRole

    putuo_hub = await node(api, "district_hub", district="普陀区")
    minhang_hub = await node(api, "district_hub", district="闵行区")
    putuo = await api.staff(StaffRole.district_admin, district="普陀区")
    refused = await api.client.post(
        "/api/v1/admin/centers",
        json={**_body(api), "parent_id": minhang_hub["id"]},
        headers=putuo,
    )
    assert_problem(refused, 403, "out_of_scope")
    allowed = await api.client.post(
        "/api/v1/admin/centers",
        json={**_body(api), "parent_id": putuo_hub["id"]},
        headers=putuo,
    )
    assert allowed.status_code == 201, allowed.text


async def test_the_demo_builds_putuo_and_minhang_branches(api: Api) -> None:
    async with api.database.writer.begin() as session:
        await demo.seed_demo(session)
        await demo.seed_demo(session)  # linking again changes nothing
    async with api.database.reader() as session:
        centers = {center.name: center for center in await session.scalars(select(Center))}
    by_id = {center.id: center for center in centers.values()}
    for child, parent in PARENTS.items():
        assert centers[child].parent_id == centers[parent].id
        assert centers[parent].kind.rank < centers[child].kind.rank
    for district in ("普陀区", "闵行区"):
        hubs = [c for c in centers.values() if c.district == district and c.parent_id is None]
        assert [hub.kind.value for hub in hubs] == ["district_hub"]
    changfengwan = centers["半马苏河驿站·长风湾党群服务中心"]
    path = (await api.client.get(f"/api/v1/centers/{changfengwan.id}/ancestors")).json()
    assert [by_id[center["id"]].kind.value for center in path] == [
        "grid_station",
        "street_center",
        "district_hub",
    ]
