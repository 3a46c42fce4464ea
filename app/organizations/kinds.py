"""The kinds of organisation, declared once: what each is called and what it
must show of a unified social credit code.

A company and a social organisation are registered bodies with a code (a
social organisation's is issued by civil affairs, 民政, so it starts with 5);
a party branch and a community team have none, and staff verify them by who
they are; a partner unit shows its code if it has one. The database holds the
same rules as CHECK constraints (``app/models/organization.py``); the
registration service says which one a request breaks
(``app/organizations/registration.py``).
"""

import enum
from dataclasses import dataclass

from app.core.errors import Text
from app.models import OrganizationKind


class CodeRule(enum.Enum):
    required = "required"
    optional = "optional"
    none = "none"  # the kind has no code: sending one is refused


@dataclass(frozen=True)
class Kind:
    name: Text  # the kind in Chinese (``kind_label``, the console) and in English
    code: CodeRule
    authority: str = ""  # the code's first character (its registration authority), if fixed


KINDS: dict[OrganizationKind, Kind] = {
    OrganizationKind.company: Kind(Text("企业", "company"), CodeRule.required),
    OrganizationKind.party_branch: Kind(Text("党支部", "party branch"), CodeRule.none),
    OrganizationKind.social_organization: Kind(
        Text("社会组织", "social organization"), CodeRule.required, authority="5"
    ),
    OrganizationKind.community_team: Kind(Text("社团/团队", "community team"), CodeRule.none),
    OrganizationKind.partner_unit: Kind(Text("共建单位", "partner unit"), CodeRule.optional),
}
# The kind in Chinese, as the API's ``kind_label`` and the console show it.
KIND_LABELS: dict[OrganizationKind, str] = {kind: rule.name.zh for kind, rule in KINDS.items()}
