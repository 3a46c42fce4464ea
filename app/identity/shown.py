"""How a person is shown to those who need not know them: the counter's
board, a screen at a door."""

from app.models import User


def masked(user: User | None, organization: str | None = None) -> str:
    """Who booked, as much as the counter needs: a masked name or phone number."""
    if user is None:
        person = "—"
    elif user.erased_at is not None:
        person = "已注销用户"
    elif user.name_masked:
        person = user.name_masked
    elif user.phone_masked:
        person = user.phone_masked
    else:
        person = f"居民 #{user.id}"
    return f"{person}（{organization}）" if organization else person
