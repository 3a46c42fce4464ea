"""The notification a booking writes in its own statement (PostgreSQL) or
transaction (SQLite): the hot path's SQL, beside the ORM's ``service.py``.

``:center`` and ``:district`` are the space's; ``:told_*`` come from
``booking.Told``. Staff are told as ``service.tell_staff_covering`` does.
"""

STAFF_COVERING = """st.is_active AND (
    st.role = 'super_admin'
    OR (st.role = 'district_admin' AND st.district = :district)
    OR (st.role = 'center_admin' AND EXISTS (
        SELECT 1 FROM staff_centers sc WHERE sc.staff_id = st.id AND sc.center_id = :center)))"""
# {id}: the new reservation's id; {fields}: the JSON parameter (cast on PostgreSQL).
TELL_BOOKER = """
INSERT INTO notifications (user_id, kind, title, body, reservation_id, center_id, fields,
                           created_at, delivery, attempts, next_attempt_at)
SELECT :user, :told_kind, :told_title, :told_body, {id}, :center, {fields}, :now, 'queued', 0,
       :now {source}"""
TELL_STAFF = f"""
INSERT INTO notifications (staff_id, kind, title, body, reservation_id, center_id, fields,
                           created_at, delivery, attempts)
SELECT st.id, :told_kind, :told_title, :told_body, {{id}}, :center, {{fields}}, :now, 'inbox', 0
FROM {{source}}staff st WHERE {STAFF_COVERING}"""


def tell_booker(*, reservation_id: str, fields: str, source: str = "") -> str:
    return TELL_BOOKER.format(id=reservation_id, fields=fields, source=source)


def tell_staff(*, reservation_id: str, fields: str, source: str = "") -> str:
    return TELL_STAFF.format(id=reservation_id, fields=fields, source=source)
