"""The rule matcher (apps/triage/matching.py): pure, no database."""

from __future__ import annotations

import pytest

from apps.triage import matching


def facts(title="", description="", source="portal", category_id=None, ancestry=(), email="ann@example.com"):
    return matching.Facts(title=title, description=description, source=source, category_id=category_id,
                          category_ancestry=frozenset(ancestry), requester_email=email)


def test_keywords_match_whole_words_ignoring_case():
    rule = matching.spec(rule_id=1, keywords="VPN, toner\nblue screen")
    assert matching.reasons(rule, facts(title="The vpn drops")) == ["keywords: vpn"]
    assert matching.reasons(rule, facts(description="A BLUE  screen at boot".replace("  ", " "))) == [
        "keywords: blue screen"]
    assert matching.reasons(rule, facts(title="vpnclient crashed")) is None  # not a whole word
    assert matching.reasons(rule, facts(title="Printer jam")) is None


def test_every_condition_set_must_hold():
    rule = matching.spec(rule_id=1, keywords="invoice", source="servicenow", requester_domain="@Finance.example.com")
    assert matching.reasons(rule, facts(title="invoice", source="servicenow", email="a@finance.example.com")) == [
        "keywords: invoice", "source: servicenow", "requester at finance.example.com"]
    assert matching.reasons(rule, facts(title="invoice", source="portal", email="a@finance.example.com")) is None
    assert matching.reasons(rule, facts(title="invoice", source="servicenow", email="a@example.com")) is None
    # A subdomain of the organisation is the organisation; a look-alike domain is not.
    assert matching.reasons(rule, facts(title="invoice", source="servicenow", email="a@eu.finance.example.com"))
    assert matching.reasons(rule, facts(title="invoice", source="servicenow", email="a@xfinance.example.com")) is None


def test_a_category_condition_covers_the_categories_below_it():
    rule = matching.spec(rule_id=1, in_category_id=7)
    assert matching.reasons(rule, facts(category_id=9, ancestry=(9, 7, 1))) == ["category"]
    assert matching.reasons(rule, facts(category_id=1, ancestry=(1,))) is None
    assert matching.reasons(rule, facts(category_id=None)) is None


def test_a_pattern_is_searched_ignoring_case_and_quoted_in_the_reason():
    rule = matching.spec(rule_id=1, pattern=r"err(or)?\s*0x[0-9a-f]{4}")
    assert matching.reasons(rule, facts(description="Got ERROR 0x80AF again")) == ["pattern: 'ERROR 0x80AF'"]
    assert matching.reasons(rule, facts(description="no code")) is None


def test_a_rule_without_conditions_never_matches():
    assert matching.reasons(matching.spec(rule_id=1), facts(title="anything")) is None


def test_an_invalid_pattern_is_refused():
    with pytest.raises(matching.PatternInvalid):
        matching.spec(rule_id=1, pattern="(unclosed")


def test_the_first_matching_rule_in_order_wins():
    rules = [matching.spec(rule_id=1, keywords="printer"), matching.spec(rule_id=2, keywords="printer, toner")]
    rule, why = matching.first_match(rules, facts(title="Printer out of toner"))
    assert (rule.rule_id, why) == (1, ["keywords: printer"])
    assert matching.first_match(rules[1:], facts(title="toner")) [0].rule_id == 2
    assert matching.first_match(rules, facts(title="Mouse")) is None
