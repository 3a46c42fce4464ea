"""The notification a hot write (a booking, a sign-up) writes in its own
statement (PostgreSQL) or transaction (SQLite): the hot paths' SQL, beside the
ORM's ``service.py``.

``:center`` and ``:district`` are the space's; ``:told_*`` come from
``booking.Told``. Staff are told as ``service.tell_staff_covering`` does: a
street admin of the center's street, and a center admin of the center or,
with ``scope = subtree``, of a center above it in the network (walked up by a
recursive CTE: at most five levels, kinds rank strictly downward).
"""

STAFF_COVERING = """st.is_active AND (
    st.role = 'super_admin'
    OR (st.role = 'district_admin' AND st.district = :district)
    OR (st.role = 'street_admin' AND EXISTS (
        SELECT 1 FROM centers sc_c
        WHERE sc_c.id = :center AND sc_c.district = st.district AND sc_c.street = st.street))
    OR (st.role = 'center_admin' AND EXISTS (
        SELECT 1 FROM staff_centers sc WHERE sc.staff_id = st.id AND (sc.center_id = :center
            OR (st.scope = 'subtree' AND sc.center_id IN (
                WITH RECURSIVE upward(id, parent_id) AS (
                    SELECT id, parent_id FROM centers WHERE id = :center
                    UNION ALL
                    SELECT c.id, c.parent_id FROM centers c JOIN upward u ON c.id = u.parent_id)
                SELECT id FROM upward))))))"""
# {about}: the column of what it is about (reservation_id, activity_id); {id}: its
# value; {fields}: the JSON parameter (cast on PostgreSQL).
TELL_USER = """
INSERT INTO notifications (user_id, kind, title, body, {about}, center_id, fields,
                           created_at, delivery, attempts, next_attempt_at)
SELECT :user, :told_kind, :told_title, :told_body, {id}, :center, {fields}, :now, 'queued', 0,
       :now {source}"""
TELL_STAFF = f"""
INSERT INTO notifications (staff_id, kind, title, body, reservation_id, center_id, fields,
                           created_at, delivery, attempts)
SELECT st.id, :told_kind, :told_title, :told_body, {{id}}, :center, {{fields}}, :now, 'inbox', 0
FROM {{source}}staff st WHERE {STAFF_COVERING}"""


def tell_booker(*, reservation_id: str, fields: str, source: str = "") -> str:
    return TELL_USER.format(about="reservation_id", id=reservation_id, fields=fields, source=source)


def tell_participant(*, activity_id: str, fields: str, source: str = "") -> str:
    """An activity's participant is told (a sign-up confirmed: app/activities/signing.py)."""
    return TELL_USER.format(about="activity_id", id=activity_id, fields=fields, source=source)


def tell_staff(*, reservation_id: str, fields: str, source: str = "") -> str:
    return TELL_STAFF.format(id=reservation_id, fields=fields, source=source)
