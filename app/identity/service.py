"""Who people are: residents log in through WeChat and verify their real name;
staff log in with a password."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import tokens
from app.core.clock import local_today, utcnow
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import flush_unique
from app.core.errors import (
    AppError,
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    Text,
)
from app.core.passwords import verify_password
from app.core.ratelimit import Limiter
from app.identity import devices, id_numbers
from app.identity.principals import StaffPrincipal
from app.identity.real_name import SAMPLE_ID_NUMBER, SAMPLE_PROVIDER, RealNameVerifier
from app.identity.wechat import WechatClient, WechatCodeRejected, WechatIdentity
from app.models import (
    SpaceCalendarFeed,
    Staff,
    StaffRole,
    StaffScope,
    User,
    staff_centers,
    subtree_ids,
)

DEV_CODE_PREFIX = "dev:"
_DEV_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,49}$"
STAFF = Text("工作人员账号", "staff account")


class AccountDeactivated(NotAuthenticated):
    code = "account_deactivated"
    title = Text("账号已停用", "Account deactivated")
    detail = Text(
        "该账号已被工作人员停用，如有疑问请联系服务中心",
        "Staff deactivated this account; contact a service center",
    )


async def login_with_wechat(
    session: AsyncSession, settings: Settings, wechat: WechatClient, code: str
) -> tuple[User, tokens.IssuedToken]:
    identity = await _identify(settings, wechat, code)
    user = await _upsert_user(session, identity)
    if not user.is_active:
        raise AccountDeactivated()
    return user, tokens.issue(settings, tokens.Audience.user, user.id)


async def _identify(settings: Settings, wechat: WechatClient, code: str) -> WechatIdentity:
    if code.startswith(DEV_CODE_PREFIX) and settings.dev_login_enabled:
        openid = code.removeprefix(DEV_CODE_PREFIX)
        if not _DEV_OPENID.fullmatch(openid):
            raise WechatCodeRejected()
        return WechatIdentity(openid=f"dev-{openid}", unionid=None)
    if not settings.wechat_configured:
        raise WechatCodeRejected()
    return await wechat.exchange(code)


async def _upsert_user(session: AsyncSession, identity: WechatIdentity) -> User:
    """Create the user on first login; concurrent first logins agree on one row."""
    now = utcnow()
    dialect = session.get_bind().dialect.name
    values: dict[str, object] = {
        "openid": identity.openid,
        "unionid": identity.unionid,
        "last_login_at": now,
        "created_at": now,
        "updated_at": now,
    }
    on_login: dict[str, object] = {"last_login_at": now, "updated_at": now}
    if identity.unionid:
        on_login["unionid"] = identity.unionid
    statement = (
        postgresql.insert(User) if dialect == "postgresql" else sqlite.insert(User)
    ).values(values)
    statement = statement.on_conflict_do_update(index_elements=[User.openid], set_=on_login)
    user_id = (await session.execute(statement.returning(User.id))).scalar_one()
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user a token names. Read on every request, so deactivating a user (or
    erasing the account) stops their tokens at once."""
    user = await session.get(User, user_id)
    if user is None or user.erased_at is not None:
        raise InvalidToken()
    if not user.is_active:
        raise AccountDeactivated()
    return user


@dataclass(frozen=True)
class StaffSignIn:
    staff_id: int
    access: tokens.IssuedToken
    device: tokens.IssuedToken  # makes the client a trusted device (app/identity/devices.py)


async def login_staff(
    session: AsyncSession,
    settings: Settings,
    limiter: Limiter,
    username: str,
    password: str,
    *,
    address: str,
    device_tokens: Sequence[str] = (),
) -> StaffSignIn:
    """Check a staff password within the login budgets (README: Security).

    The attempt takes its place in its budgets before the password is
    checked, atomically (in Redis across processes), so of a burst of
    concurrent guesses at most the limit reach Argon2, and none over budget
    does. A trusted device spends its own budget; any other attempt spends the
    address's and the username's, which strangers share. A success clears
    the username's or the device's count (only the password's holder can do
    that) but not the address's: anyone with an account could otherwise reset
    their address's budget between guesses at other people's passwords.
    """
    username = username.lower()
    claims = devices.claims_of(settings, device_tokens)
    staff = await _staff_named(session, username) if claims else None
    device_id = devices.trusted_device(staff, claims)
    rules = limiter.rules
    if device_id:
        await limiter.spend((rules.login_per_device, device_id))
    else:
        await limiter.spend((rules.login_per_ip, address), (rules.login_per_username, username))
    if not claims:
        staff = await _staff_named(session, username)
    known_hash = staff.password_hash if staff is not None and staff.is_active else None
    if not await verify_password(known_hash, password) or staff is None:
        raise InvalidCredentials()
    if device_id:
        await limiter.forget(rules.login_per_device, device_id)
    else:
        await limiter.forget(rules.login_per_username, username)
    return StaffSignIn(
        staff_id=staff.id,
        access=tokens.issue(settings, tokens.Audience.staff, staff.id),
        device=tokens.issue_device(settings, staff.id, device_id or devices.new_device_id()),
    )


async def _staff_named(session: AsyncSession, username: str) -> Staff | None:
    if not re.fullmatch(USERNAME_PATTERN, username):  # never query with junk (NUL, for one)
        return None
    staff: Staff | None = await session.scalar(select(Staff).where(Staff.username == username))
    return staff


class PasswordChangeRequired(AppError):
    status = 403
    code = "password_change_required"
    title = Text("请先修改密码", "Change your password first")
    detail = Text(
        "此账号的密码由管理员设置，请先修改密码，然后才能继续使用",
        "This account's password was set by an administrator: change it"
        " (POST /api/v1/admin/me/password) before anything else",
    )


async def load_staff_principal(
    session: AsyncSession,
    staff_id: int,
    issued_at: datetime | None = None,
    *,
    password_change_pending: bool = False,
) -> StaffPrincipal:
    """The staff member a token issued at ``issued_at`` names, unless they were
    deactivated or have signed out since (``None``: a credential of another
    kind, such as a calendar feed's token, which signing out deletes instead).

    An account that must change its password is refused (403
    ``password_change_required``) unless ``password_change_pending``: the
    routes that change it, sign out, or say who is signed in."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.is_active:
        raise InvalidToken()
    signed_out = staff.signed_out_at
    if issued_at is not None and signed_out is not None and issued_at < signed_out:
        raise InvalidToken()
    if staff.must_change_password and not password_change_pending:
        raise PasswordChangeRequired()
    center_ids: Sequence[int] = []
    if staff.role is StaffRole.center_admin:
        listed = select(staff_centers.c.center_id).where(staff_centers.c.staff_id == staff.id)
        if staff.scope is StaffScope.subtree:
            below = subtree_ids(listed)
            center_ids = (await session.scalars(select(below.c.id))).all()
        else:
            center_ids = (await session.scalars(listed)).all()
    return StaffPrincipal(
        id=staff.id,
        username=staff.username,
        role=staff.role,
        district=staff.district,
        center_ids=frozenset(center_ids),
        street=staff.street,
        scope=staff.scope,
        must_change_password=staff.must_change_password,
    )


async def sign_out_staff(session: AsyncSession, staff_id: int, now: datetime) -> None:
    """End every session of the staff member: tokens carry their issue time in
    whole seconds, so every token issued before this second stops working. (One
    issued within the same second, before the sign-out, keeps working until it
    expires; the next sign-in, even within that second, works.) Their calendar
    feeds of spaces are credentials too: they are revoked (their URLs answer 404)."""
    await session.execute(
        update(Staff).where(Staff.id == staff_id).values(signed_out_at=now.replace(microsecond=0))
    )
    await session.execute(delete(SpaceCalendarFeed).where(SpaceCalendarFeed.staff_id == staff_id))


# --- real-name verification ------------------------------------------------------

ID_NUMBER_PURPOSE = "id_number"
NAME_PURPOSE = "name"
MINIMUM_AGE = 14


class InvalidIdNumberError(AppError):
    status = 422
    code = "invalid_id_number"
    title = Text("身份证号码无效", "Invalid ID number")
    detail = Text("身份证号码格式或校验位不正确", "The ID number fails its format or check digit")


class GuardianConsentRequired(AppError):
    status = 403
    code = "guardian_consent_required"
    title = Text("未满 14 周岁", "Under 14")
    detail = Text(
        "未满 14 周岁须由监护人同意，暂不支持线上认证",
        "Under-14s need a guardian's consent, which cannot be given online yet",
    )


class IdNumberTaken(AppError):
    """Staff only: residents get ``RealNameNotAccepted`` instead, which does not
    tell them whether a number is registered."""

    status = 409
    code = "id_number_taken"
    title = Text("该身份证已绑定其他账号", "ID number already bound")
    detail = Text(
        "该号码已绑定其他账号；如本人确认无误，请使用“更正绑定”",
        "The number is bound to another account; use rebind if the holder proved it is theirs",
    )


class RealNameNotAccepted(AppError):
    """One answer for "the name does not match" and "the number is bound to
    someone else", so that the endpoint cannot be used to test whether a
    number is registered (both paths also ask the verifier and the database)."""

    status = 409
    code = "real_name_not_accepted"
    title = Text("实名认证未通过", "Real name not accepted")
    detail = Text(
        "姓名与身份证号码未通过核验，或该号码无法绑定本账号。"
        "如确为本人证件，请携带身份证到任一党群服务中心柜台办理",
        "The name and number did not pass the check, or the number cannot be bound to this "
        "account. If it is your card, bring it to a service center's counter",
    )


class AlreadyVerified(AppError):
    status = 409
    code = "already_verified"
    title = Text("已完成实名认证", "Already verified")
    detail = Text("该账号已绑定其他身份证号码", "This account is bound to another ID number")


def parse_id_number(id_number: str) -> id_numbers.IdNumber:
    """A valid number of someone at least 14 years old, or the problem saying why not."""
    try:
        parsed = id_numbers.parse(id_number, local_today())
    except id_numbers.InvalidIdNumber:
        raise InvalidIdNumberError() from None
    if parsed.age_on(local_today()) < MINIMUM_AGE:
        raise GuardianConsentRequired()
    return parsed


async def verify_real_name(
    session: AsyncSession,
    cipher: PiiCipher,
    verifier: RealNameVerifier,
    user: User,
    name: str,
    id_number: str,
) -> User:
    """Bind a verified name and ID number to ``user``: at most one account per number.

    The verifier is asked and the number looked up whatever the outcome, and
    a mismatch and a number bound elsewhere get the same answer: a resident
    learns nothing about other people's numbers here.

    With the development verifier the demo's sample number binds to every
    account that claims it, each with an index of its own and marked
    ``demo_sample``, so that every tester gets through the demo.
    """
    parsed = parse_id_number(id_number)
    sample = verifier.shares_the_sample and parsed.value == SAMPLE_ID_NUMBER
    index = cipher.blind_index(
        ID_NUMBER_PURPOSE, f"{parsed.value}:{user.id}" if sample else parsed.value
    )
    if user.real_name_verified:
        if user.id_number_index == index:
            return user  # verifying the same number again changes nothing
        raise AlreadyVerified()
    matches = await verifier.matches(name, parsed)
    holder = await holder_of(session, index)
    if not matches or holder is not None:
        raise RealNameNotAccepted()
    provider = SAMPLE_PROVIDER if sample else verifier.name
    bind_real_name(cipher, user, parsed, name, provider=provider, index=index)
    await flush_unique(session, RealNameNotAccepted())  # another account took it a moment ago
    return user


async def holder_of(session: AsyncSession, index: str) -> int | None:
    """The account the number with this blind index is bound to, if any."""
    return await session.scalar(select(User.id).where(User.id_number_index == index))


def bind_real_name(
    cipher: PiiCipher,
    user: User,
    parsed: id_numbers.IdNumber,
    name: str,
    *,
    provider: str,
    index: str | None = None,
) -> None:
    """Seal the number and the name onto ``user`` (the caller flushes).

    The number and name are kept only as ciphertext and as a keyed hash; the
    responses and the logs see masked forms, and the birth date is never
    stored apart.
    """
    sealed_number = cipher.seal(ID_NUMBER_PURPOSE, parsed.value)
    user.id_number_index = index or cipher.blind_index(ID_NUMBER_PURPOSE, parsed.value)
    user.id_number_sealed = sealed_number.ciphertext
    user.name_sealed = cipher.seal(NAME_PURPOSE, name).ciphertext
    user.pii_key_version = sealed_number.key_version
    user.id_number_masked = parsed.masked
    user.name_masked = id_numbers.mask_name(name)
    user.real_name_verified = True
    user.real_name_provider = provider
    user.real_name_verified_at = utcnow()


def clear_real_name(user: User) -> None:
    """Forget the real name bound to ``user``: the ciphertext and the blind index go."""
    user.id_number_index = None
    user.id_number_sealed = None
    user.name_sealed = None
    user.pii_key_version = None
    user.id_number_masked = None
    user.name_masked = None
    user.real_name_verified = False
    user.real_name_provider = None
    user.real_name_verified_at = None
