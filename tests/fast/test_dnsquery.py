"""The wait's reading of one nameserver's answer (dns01/dnsquery.py), on constructed DNS messages.

No server: each case builds the response a nameserver could send and checks what the wait
concludes from it, and whether that answer counts as serving the expected values.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from certbot_dns_netcup._internal.dns01.dnsquery import Observation, ObservationKind, _interpret

OWNER = "_acme-challenge.example.test."
QNAME = dns.name.from_text(OWNER)


def response(
    *answers: dns.rrset.RRset,
    authoritative: bool = True,
    rcode: int = dns.rcode.NOERROR,
    authority: tuple[dns.rrset.RRset, ...] = (),
) -> dns.message.Message:
    query = dns.message.make_query(QNAME, dns.rdatatype.TXT)
    reply = dns.message.make_response(query)
    if authoritative:
        reply.flags |= dns.flags.AA
    reply.set_rcode(rcode)
    reply.answer = list(answers)
    reply.authority = list(authority)
    return reply


def txt(*values: str, owner: str = OWNER) -> dns.rrset.RRset:
    return dns.rrset.from_text(owner, 60, "IN", "TXT", *values)


def test_an_authoritative_answer_holds_every_value_at_the_name() -> None:
    seen = _interpret(response(txt('"value-1"', '"value-2"')), QNAME)
    assert seen.kind is ObservationKind.ANSWER
    assert sorted(seen.values) == ["value-1", "value-2"]
    assert seen.serves(frozenset({"value-1"})) and seen.serves(frozenset({"value-1", "value-2"}))
    assert not seen.serves(frozenset({"value-1", "value-3"}))  # one value still missing


def test_a_value_split_into_several_strings_is_their_concatenation() -> None:
    seen = _interpret(response(txt('"first-half" "second-half"')), QNAME)
    assert seen.values == ("first-halfsecond-half",)


def test_records_at_other_names_do_not_count() -> None:
    seen = _interpret(response(txt('"value-1"', owner="other.example.test.")), QNAME)
    assert seen.kind is ObservationKind.NODATA
    assert not seen.serves(frozenset({"value-1"}))


def test_a_cname_instead_of_txt_is_nodata_naming_the_target() -> None:
    cname = dns.rrset.from_text(OWNER, 60, "IN", "CNAME", "target.example.test.")
    seen = _interpret(response(cname), QNAME)
    assert (seen.kind, seen.detail) == (ObservationKind.NODATA, "CNAME to target.example.test")


@pytest.mark.parametrize(
    "authoritative, expected",
    [(True, ObservationKind.NXDOMAIN), (False, ObservationKind.NOT_AUTHORITATIVE)],
    ids=["with-aa", "without-aa"],
)
def test_nxdomain_counts_only_from_an_authoritative_server(authoritative: bool, expected: ObservationKind) -> None:
    seen = _interpret(response(authoritative=authoritative, rcode=dns.rcode.NXDOMAIN), QNAME)
    assert seen.kind is expected and not seen.serves(frozenset())


def test_an_answer_without_the_aa_flag_is_not_authoritative_even_with_the_values() -> None:
    seen = _interpret(response(txt('"value-1"'), authoritative=False), QNAME)
    assert (seen.kind, seen.detail) == (ObservationKind.NOT_AUTHORITATIVE, "answer without AA flag")
    assert not seen.serves(frozenset({"value-1"}))


def test_a_referral_is_named_as_such() -> None:
    ns = dns.rrset.from_text("example.test.", 60, "IN", "NS", "ns1.elsewhere.test.")
    seen = _interpret(response(authoritative=False, authority=(ns,)), QNAME)
    assert (seen.kind, seen.detail) == (ObservationKind.NOT_AUTHORITATIVE, "referral")


@pytest.mark.parametrize(
    "rcode, kind, detail",
    [
        (dns.rcode.SERVFAIL, ObservationKind.SERVFAIL, ""),
        (dns.rcode.REFUSED, ObservationKind.REFUSED, ""),
        (dns.rcode.NOTIMP, ObservationKind.RCODE, "NOTIMP"),
    ],
)
def test_error_rcodes(rcode: int, kind: ObservationKind, detail: str) -> None:
    seen = _interpret(response(rcode=rcode), QNAME)
    assert (seen.kind, seen.detail) == (kind, detail)
    assert seen.answered and not seen.serves(frozenset())


def test_only_an_answer_serves_even_when_nothing_is_expected() -> None:
    assert Observation(ObservationKind.ANSWER, ("x",)).serves(frozenset())
    for kind in ObservationKind:
        if kind is not ObservationKind.ANSWER:
            assert not Observation(kind, ("value-1",)).serves(frozenset({"value-1"})), kind


def test_no_reply_kinds_are_not_answers() -> None:
    assert not Observation(ObservationKind.TIMEOUT).answered
    assert not Observation(ObservationKind.NO_ROUTE).answered
    assert Observation(ObservationKind.NODATA).answered


def test_wrong_values_are_described_with_what_is_missing() -> None:
    seen = Observation(ObservationKind.ANSWER, ("old-value",))
    text = seen.describe(frozenset({"new-value"}))
    assert "'old-value'" in text and "missing 'new-value'" in text
    assert Observation(ObservationKind.ANSWER, ("new-value",)).describe(frozenset({"new-value"})) == "serves all values"
