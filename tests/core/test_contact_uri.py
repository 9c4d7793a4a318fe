"""The contact_uri encoding table, its traps, and decode."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from guard.core.contact_uri import (
    DecodeError,
    accepted_contact_uris,
    contact_uri_for,
    decode,
    escape_identity_js,
)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ann.veal@arresteddevelopment.com", "client:ann_2Eveal_40arresteddevelopment_2Ecom"),
        ("Ann.Veal@Example.COM", "client:Ann_2EVeal_40Example_2ECOM"),  # case is kept
        ("first_last@x.io", "client:first_5Flast_40x_2Eio"),
        ("ann+flex@x.io", "client:ann_2Bflex_40x_2Eio"),
        ("o'brien-smith@x.io", "client:o_27brien_2Dsmith_40x_2Eio"),
        ("a b@x.io", "client:a_20b_40x_2Eio"),
        ("agent42@x.io", "client:agent42_40x_2Eio"),
        # str.isalnum() is True for these; they must still be escaped (UTF-8 bytes).
        ("josé@x.fr", "client:jos_C3_A9_40x_2Efr"),
        ("m²@x.io", "client:m_C2_B2_40x_2Eio"),
        ("ａ@x.io", "client:_EF_BD_81_40x_2Eio"),  # full-width a
        ("١@x.io", "client:_D9_A1_40x_2Eio"),  # Arabic-Indic digit one
        ("😀@x.io", "client:_F0_9F_98_80_40x_2Eio"),
    ],
)
def test_contact_uri_for_escapes_everything_but_ascii_alphanumerics(email, expected):
    assert contact_uri_for(email) == expected


def test_js_form_escapes_utf16_code_units_like_charcodeat():
    assert escape_identity_js("josé@x") == "jos_E9_40x"
    assert escape_identity_js("中") == "_4E2D"
    assert escape_identity_js("😀") == "_D83D_DE00"  # a surrogate pair: two code units


def test_both_non_ascii_forms_are_accepted_and_ascii_has_one():
    assert accepted_contact_uris("josé@x.fr") == {"client:jos_C3_A9_40x_2Efr", "client:jos_E9_40x_2Efr"}
    assert accepted_contact_uris("ann@x.io") == {"client:ann_40x_2Eio"}


@pytest.mark.parametrize(
    ("uri", "email"),
    [
        ("client:ann_2Eveal_40arresteddevelopment_2Ecom", "ann.veal@arresteddevelopment.com"),
        ("client:jos_C3_A9_40x_2Efr", "josé@x.fr"),
        ("client:jos_E9_40x_2Efr", "josé@x.fr"),  # the JS code-unit form of a Latin-1 character
        ("client:jos_E92_40x_2Ecom", "josé2@x.com"),  # not U+0E92: a Latin-1 reading that gives the value back wins
        ("client:zo_EB2024_40x_2Ecom", "zoë2024@x.com"),
        ("client:_674E_660E", "李明"),  # past U+00FF a code unit takes 3 or 4 hex digits
        ("client:_43F_451_442_440", "пётр"),
        ("client:_D83D_DE00_40x", "😀@x"),  # a surrogate pair
    ],
)
def test_decode_returns_the_email(uri, email):
    assert decode(uri) == email


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("ann_40x_2Eio", "missing scheme"),
        ("sip:ann_40x_2Eio", "other scheme 'sip:'"),
        ("Client:ann_40x_2Eio", "other scheme 'Client:'"),
        ("client:", "empty identity"),
        ("client:ann_2eveal", "lowercase hex in escape '_2e' at position 10"),
        ("client:ann_2Gveal", "bad escape '_2G' at position 10"),
        ("client:ann_", "stray '_' at position 10"),
        ("client:ann_4", "stray '_' at position 10"),
        ("client:ann.veal", "unescaped character '.' at position 10"),
    ],
)
def test_decode_rejects_malformed_input_with_a_reason(uri, reason):
    with pytest.raises(DecodeError, match=reason.replace("(", r"\(")):
        decode(uri)


@given(st.text(min_size=1))
def test_decode_inverts_contact_uri_for(email):
    assert decode(contact_uri_for(email)) == email


@given(st.text(min_size=1))
@example("\u3000Ø00")  # `_3000_D800`: not a lone high surrogate, `Ø` then `00` (or U+0D80 then `0`)
@example("李Ø12@x.com")
def test_every_js_form_reads_back_as_an_identity_it_is_a_form_of(identity):
    # Some JS forms read two ways (`_1424`: U+1424, or U+0014 then "24"); either reading must give the value back
    js = "client:" + escape_identity_js(identity)
    assert js in accepted_contact_uris(decode(js))


@given(st.text(min_size=1))
def test_encoded_identity_is_ascii_alphanumerics_and_escapes_only(email):
    body = contact_uri_for(email).removeprefix("client:")
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in body)
