"""Checking a name and ID number against an authority, behind one small interface.

``ZHENDI_REAL_NAME_VERIFIER`` picks the adapter:

- ``format_only``: accepts every number that passes the GB 11643 checks. It
  proves nothing about the person, so production refuses it. It is the one
  that lets every tester through the demo: the standard's own sample number
  (``SAMPLE_ID_NUMBER``, the one the README shows) binds to any number of
  accounts, each marked ``real_name_provider: demo_sample``; any other
  number still binds to one account only.
- ``http``: a two-element check (name + ID number) at a provider over HTTPS,
  as the identity-check services sold to apps work. The mapping is set in
  ``ZHENDI_REAL_NAME_HTTP_*``:

  request: ``POST <URL>`` with ``Authorization: <AUTH_SCHEME> <TOKEN>`` and the
  JSON body ``{"<NAME_FIELD>": name, "<ID_FIELD>": id_number}``;
  response: HTTP 200 with a JSON object; the value at the dotted
  ``RESULT_PATH`` (e.g. ``result.res``), compared as a string, is a match if
  it is one of ``MATCH_VALUES``, a mismatch if one of ``MISMATCH_VALUES``.
  Anything else (another status, a timeout, an unknown value) is the
  provider's trouble, answered ``503 real_name_unavailable``: never taken
  as a match, and never as a mismatch either.
- ``counter``: nobody is verified online. Residents show their ID card at a
  center's counter, where staff verify them
  (``POST /admin/real-names/{user_id}/verify``).
"""

import logging
from typing import Any, Protocol

import httpx

from app.core.config import Settings
from app.core.errors import AppError, Text
from app.identity.id_numbers import IdNumber

logger = logging.getLogger("zhendi.real_name")


class RealNameUnavailable(AppError):
    status = 503
    code = "real_name_unavailable"
    title = Text("实名核验服务暂不可用", "Identity check unavailable")
    detail = Text("暂时无法完成实名核验，请稍后再试", "The identity check failed; try again later")

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "30"


class RealNameInPerson(AppError):
    status = 409
    code = "real_name_in_person"
    title = Text("请到服务中心柜台实名认证", "Verify in person")
    detail = Text(
        "本系统的实名认证须携带身份证到任一党群服务中心柜台，由工作人员当面核验",
        "Bring your ID card to a service center's counter, where staff verify it in person",
    )


# GB 11643's own example, which belongs to nobody: the demo's sample number.
SAMPLE_ID_NUMBER = "11010519491231002X"
SAMPLE_PROVIDER = "demo_sample"


class RealNameVerifier(Protocol):
    name: str
    # The sample number binds to every account that claims it (development only).
    shares_the_sample: bool

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        """Does ``id_number`` belong to a person called ``name``? Raises
        ``RealNameUnavailable`` when the authority cannot say."""
        ...


class FormatOnly:
    name = "format_only"

    def __init__(self, *, shares_the_sample: bool) -> None:
        self.shares_the_sample = shares_the_sample

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        return True  # the number already passed its format and check-digit rules


class AtTheCounter:
    name = "counter"
    shares_the_sample = False

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        raise RealNameInPerson()


class HttpTwoElementCheck:
    """A name + ID number check at an HTTPS provider (see the module docstring)."""

    name = "http"
    shares_the_sample = False

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        assert settings.real_name_http_url is not None  # the settings validate both
        assert settings.real_name_http_token is not None
        self._url = settings.real_name_http_url
        self._authorization = (
            f"{settings.real_name_http_auth_scheme} "
            f"{settings.real_name_http_token.get_secret_value()}"
        )
        self._name_field = settings.real_name_http_name_field
        self._id_field = settings.real_name_http_id_field
        self._path = settings.real_name_http_result_path.split(".")
        self._match = frozenset(settings.real_name_http_match_values)
        self._mismatch = frozenset(settings.real_name_http_mismatch_values)
        self._http = http

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        body = {self._name_field: name, self._id_field: id_number.value}
        try:
            response = await self._http.post(
                self._url, json=body, headers={"Authorization": self._authorization}
            )
            payload = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            # The exception's text may carry the request; only its type is logged.
            logger.warning("identity check failed: %s", type(exc).__name__)
            raise RealNameUnavailable() from None
        verdict = str(_at(payload, self._path))
        if verdict in self._match:
            return True
        if verdict in self._mismatch:
            return False
        logger.warning("identity check answered HTTP %s", response.status_code)
        raise RealNameUnavailable()


def _at(payload: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    return payload


def build_verifier(settings: Settings, http: httpx.AsyncClient) -> RealNameVerifier:
    match settings.real_name_verifier:
        case "format_only":
            # Production refuses format_only anyway (app/core/config.py).
            return FormatOnly(shares_the_sample=not settings.is_production)
        case "counter":
            return AtTheCounter()
        case "http":
            return HttpTwoElementCheck(settings, http)


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.real_name_http_timeout_seconds))
