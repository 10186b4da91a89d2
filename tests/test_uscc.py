"""USCC (统一社会信用代码) check digit, GB 32100-2015, in Python and in the database."""

import numpy as np
import pytest
from sqlalchemy import text

from geo.errors import InvalidUSCC
from geo.uscc import USCC_CHARS, is_valid_uscc, org_code_check_char, uscc_check_char, validate_uscc

# Published codes of two well-known companies (business licences are public):
REAL = ["914403001922038216",  # 华为技术有限公司
        "9144030071526726XG"]  # 腾讯科技（深圳）有限公司


@pytest.mark.parametrize("code", REAL)
def test_real_codes_are_valid(code):
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code


@pytest.mark.parametrize("code", REAL)
def test_real_codes_embed_a_valid_gb11714_organisation_code(code):
    assert org_code_check_char(code[8:16]) == code[16]


@pytest.mark.parametrize(("code", "reason"), [
    ("914403001922038217", "check character"),
    ("91440300192203821", "18 characters"),
    ("9144030019220382160", "18 characters"),
    ("91440300192203821I", "outside"),
    ("91440300192203821O", "outside"),
    ("91AB0300192203821X", "administrative division"),
])
def test_invalid_codes_say_why(code, reason):
    with pytest.raises(InvalidUSCC) as err:
        validate_uscc(code)
    assert err.value.field == "uscc"
    assert reason in err.value.reason


def test_non_string_is_refused():
    with pytest.raises(InvalidUSCC):
        validate_uscc(914403001922038216)


def test_every_single_character_change_is_detected():
    code = REAL[0]
    for i in range(18):
        for c in USCC_CHARS:
            if c != code[i]:
                mutated = code[:i] + c + code[i + 1:]
                if mutated[2:8].isdigit():
                    assert not is_valid_uscc(mutated), mutated


def test_database_function_agrees_with_python(conn):
    rng = np.random.default_rng(3)
    codes = []
    for _ in range(500):
        body = "91" + "".join(rng.choice(list("0123456789"), 6)) + "".join(rng.choice(list(USCC_CHARS), 9))
        good = body + uscc_check_char(body)
        bad = body + USCC_CHARS[(USCC_CHARS.index(good[-1]) + 1) % 31]
        codes += [good, bad]
    codes += REAL + ["", "91440300192203821I", "short"]
    rows = conn.execute(text("SELECT c, onemap_uscc_valid(c) FROM unnest(CAST(:codes AS text[])) AS c"),
                        {"codes": codes}).all()
    for code, ok in rows:
        assert ok == is_valid_uscc(code), code
