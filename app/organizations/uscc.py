"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters from an alphabet of 31 (digits and upper-case letters without
I, O, Z, S, V): a registration-authority code, an organization-type code
allowed for that authority, a 6-digit administrative region, the 9-character
organization code, and a check character: the weighted sum (weights 3^i mod
31) modulo 31, subtracted from 31.
"""

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, position, 31) for position in range(17)]

# Registration authority -> the organization types it may register.
TYPES_BY_AUTHORITY = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 编办直管群团, 其他
    "2": "19",  # 外交
    "3": "123459",  # 司法行政: 律师事务所, 公证处, 基层法律服务所, 司法鉴定所, 仲裁委员会, 其他
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游
    "7": "1239",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业
    "Y": "1",  # 其他
}


class InvalidUscc(ValueError):
    pass


def check_character(first_seventeen: str) -> str:
    total = sum(
        _VALUES[char] * weight for char, weight in zip(first_seventeen, _WEIGHTS, strict=True)
    )
    return ALPHABET[(31 - total % 31) % 31]


def validate(code: str) -> str:
    """Return ``code`` if it is a well-formed USCC; say which rule failed otherwise."""
    if len(code) != 18 or any(char not in _VALUES for char in code):
        raise InvalidUscc("must be 18 characters of 0-9 and A-Z without I, O, Z, S, V")
    authority, kind = code[0], code[1]
    if kind not in TYPES_BY_AUTHORITY.get(authority, ""):
        raise InvalidUscc("unknown registration authority or organization type")
    if not code[2:8].isdigit():
        raise InvalidUscc("the region code must be 6 digits")
    if check_character(code[:17]) != code[17]:
        raise InvalidUscc("the check character does not match")
    return code
