"""Official Oolong scoring rules, strict where they would reward a wrong answer; every expected
value is computed by hand."""

import datetime as dt

import pytest

from oolong_rlm.scoring import (
    comparison_phrase,
    named_labels,
    parse_date,
    parse_synth_gold,
    parse_synth_prediction,
    question_labels,
    score_real,
    score_synth,
)
from rlm_env.scoring import extract_boxed

LABEL, NUMERIC, COMPARISON = "ANSWER_TYPE.LABEL", "ANSWER_TYPE.NUMERIC", "ANSWER_TYPE.COMPARISON"
DATE, MONTH_YEAR, USER = "ANSWER_TYPE.DATE", "ANSWER_TYPE.MONTH_YEAR", "ANSWER_TYPE.USER"


def test_prediction_is_text_after_last_colon_without_markup():
    assert parse_synth_prediction("Reasoning: ... so\nLabel: **[spam]**  ") == "spam"
    assert parse_synth_prediction("ham") == "ham"  # no colon, short: the whole answer
    assert parse_synth_prediction("I think the answer is clearly ham") == "ham"  # last word


def test_gold_parsing():
    assert parse_synth_gold("['spam']") == "spam"
    assert parse_synth_gold("[7]") == 7
    assert parse_synth_gold("[76063]") == 76063
    assert parse_synth_gold("[datetime.date(2023, 1, 6)]") == dt.date(2023, 1, 6)


@pytest.mark.parametrize(
    "gold",
    [
        "spam",
        "[]",
        "['a'",
        "[None]",
        "[[1]]",
        "[datetime.date(2023, 1)]",
        "[datetime.date(2023, 13, 1)]",
        "[__import__('os')]",
    ],
)
def test_malformed_synth_gold_raises(gold):
    with pytest.raises(ValueError):
        score_synth("Label: spam", gold, LABEL)


def test_malformed_gold_for_its_type_raises():
    with pytest.raises(ValueError):
        score_synth("Answer: 3", "['three']", NUMERIC)
    with pytest.raises(ValueError):
        score_synth("Date: 01/06/2023", "['Jan 6']", DATE)
    with pytest.raises(ValueError):
        score_synth("Label: x", "['x']", "ANSWER_TYPE.BOGUS")
    with pytest.raises(ValueError):
        score_synth("Label: x", None, LABEL)


def test_label_exact_and_case_sensitive():
    assert score_synth("Label: spam", "['spam']", LABEL) == 1.0
    assert score_synth("**Label: [human being]**", "['human being']", LABEL) == 1.0
    assert score_synth("Label: ham", "['spam']", LABEL) == 0.0
    assert score_synth("Label: Spam", "['spam']", LABEL) == 0.0  # official: case-sensitive
    assert score_synth("Label: True", "[True]", LABEL) == 1.0  # bool gold compares as str


def test_numeric_partial_credit():
    assert score_synth("Answer: 7", "[7]", NUMERIC) == 1.0
    assert score_synth("Answer: 5", "[7]", NUMERIC) == 0.5625  # 0.75 ** 2
    assert score_synth("Answer: **8**", "[7]", NUMERIC) == 0.75
    assert score_synth("Answer: seven", "[7]", NUMERIC) == 0.0
    assert score_synth("Answer: 7.0", "[7]", NUMERIC) == 0.0  # official int() parse
    assert score_synth("Answer: " + "9" * 50, "[7]", NUMERIC) == 0.0  # no overflow


@pytest.mark.parametrize(
    "response,score",
    [
        ("Answer: spam is more common than ham", 1.0),
        ("Answer: spam is [more common than] ham", 1.0),
        ("Answer: more common than", 1.0),
        ("Answer: more common", 1.0),
        ("Answer: spam is less common than ham", 0.0),
        ("Answer: spam is the same frequency as ham", 0.0),
        ("Answer: it depends", 0.0),
    ],
)
def test_comparison_by_containment(response, score):
    assert score_synth(response, "['more common than']", COMPARISON) == score


@pytest.mark.parametrize(
    "response",
    [
        "Answer: spam is not more common than ham",
        "Answer: spam is **not** more common than ham",
        "Answer: spam isn't more common than ham",
        "Answer: spam is not really more common than ham",
        "Answer: spam is never more common than ham",
        "Answer: spam is more common or less common than ham",
        "Answer: more common than, or the same frequency as",
        "Answer: spam is less common than ham, so ham is more common",
    ],
)
def test_a_negated_or_hedged_comparison_scores_zero(response):
    # the official scorer maps each of these (20+ characters containing "more common") to "more common"
    assert score_synth(response, "['more common than']", COMPARISON) == 0.0


@pytest.mark.parametrize(
    "response",
    [
        "Answer: spam is more common than ham",
        "Answer: spam is MORE_COMMON",
        "Answer: more common than",
        "Answer: spam is notably more common than ham",  # "notably" is not a negation
        "ham is more common",  # short, no colon: the whole answer
    ],
)
def test_the_same_comparison_stated_plainly_scores_one(response):
    gold = "['more common than']" if "MORE_COMMON" not in response else "['less common than']"
    expected = 0.0 if "MORE_COMMON" in response else 1.0  # no phrase at all: 0
    assert score_synth(response, gold, COMPARISON) == expected


def test_comparison_phrase():
    assert comparison_phrase("spam is more common than ham") == "more common"
    assert comparison_phrase("more common, more common") == "more common"  # one phrase, repeated
    assert comparison_phrase("not more common") is None
    assert comparison_phrase("less common or the same frequency") is None
    assert comparison_phrase("it depends") is None


TREC_QUESTION = (
    "In the above data, which of the labels is the most common? Give your final answer in the form "
    "'Label: answer' where answer is one of the labels: abbreviation, entity, description and "
    "abstract concept, human being, location, numeric value."
)
SPAM_QUESTION = "Which label is least common? ... where answer is one of the labels: ham, spam."


def test_question_labels_and_named_labels():
    assert question_labels(SPAM_QUESTION) == ["ham", "spam"]
    assert question_labels(TREC_QUESTION)[2] == "description and abstract concept"
    assert question_labels("Which user is most common?") == []
    assert named_labels("ham, or maybe SPAM", ["ham", "spam"]) == {"ham", "spam"}
    assert named_labels("hamster spams", ["ham", "spam"]) == set()  # whole words only
    assert named_labels("very positive", ["positive", "very positive"]) == {"very positive"}


@pytest.mark.parametrize(
    "response, gold, score",
    [
        ("Label: spam", "['spam']", 1.0),
        ("Label: ham or spam", "['spam']", 0.0),
        ("Label: ham, spam", "['spam']", 0.0),
        ("Label: spam\nLabel: ham", "['ham']", 0.0),
        ("It is either ham or perhaps spam", "['spam']", 0.0),  # official: last word "spam" -> 1.0
        ("After counting everything, the answer is spam", "['spam']", 1.0),  # one label, last word
        ("I counted 10 ham and 30 spam.\nLabel: spam", "['spam']", 1.0),  # only the answer part counts
    ],
)
def test_a_label_answer_naming_two_labels_scores_zero(response, gold, score):
    assert score_synth(response, gold, LABEL, SPAM_QUESTION) == score


def test_two_trec_labels_score_zero_and_one_scores_one():
    assert score_synth("Label: human being", "['human being']", LABEL, TREC_QUESTION) == 1.0
    assert score_synth("Label: human being / location", "['human being']", LABEL, TREC_QUESTION) == 0.0
    assert score_synth("Label: location", "['human being']", LABEL, TREC_QUESTION) == 0.0


def test_comparison_same_frequency_and_date_variants():
    assert score_synth("Answer: a is same frequency as b", "['same frequency as']", COMPARISON) == 1.0
    assert (
        score_synth("Answer: x is the same frequency before Jan 05, 2023", "['the same frequency']", COMPARISON) == 1.0
    )
    assert score_synth("Answer: x is less common before then", "['less common']", COMPARISON) == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "Date: 01/06/2023",
        "Date: 1/6/2023",
        "Date: [01/06/2023]",
        "Date: 2023-01-06",
        "Date: Jan 6, 2023",
        "Date: January 06, 2023",
        "Date: 6 January 2023",
        "Date: **Jan 06, 2023**",
    ],
)
def test_date_formats(response):
    assert score_synth(response, "[datetime.date(2023, 1, 6)]", DATE) == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "Date: 01/07/2023",
        "Date: 06/01/2023",
        "Date: January 2023",
        "Date: soon",
        "Date: ",
    ],
)
def test_date_mismatch_or_unparseable(response):
    assert score_synth(response, "[datetime.date(2023, 1, 6)]", DATE) == 0.0


def test_parse_date_refuses_missing_fields():
    assert parse_date("2023-01-06") == dt.date(2023, 1, 6)
    assert parse_date("January 2023") is None
    assert parse_date("Jan 6") is None


def test_month_year_and_user_are_strings():
    assert score_synth("Answer: October 2022", "['October 2022']", MONTH_YEAR) == 1.0
    assert score_synth("Answer: october 2022", "['October 2022']", MONTH_YEAR) == 0.0
    assert score_synth("User: 76063", "[76063]", USER) == 1.0
    assert score_synth("User: [76063]", "['76063']", USER) == 1.0
    assert score_synth("User: 76064", "[76063]", USER) == 0.0


def test_boxed_extraction_handles_nesting_and_takes_the_last():
    assert extract_boxed(r"\boxed{1} then \boxed{\text{Fire {Bolt}}}") == r"\text{Fire {Bolt}}"
    assert extract_boxed(r"\boxed{12} and a broken \boxed{3") == "12"
    assert extract_boxed("no box") is None


def test_real_int():
    assert score_real(r"So \boxed{114}", "114") == 1.0
    assert score_real(r"\boxed{112}", "114") == 0.5625
    assert score_real(r"first \boxed{1}, finally \boxed{113}", "114") == 0.75
    assert score_real("114", "114") == 1.0  # official fallback: no box, whole response
    assert score_real(r"\boxed{many}", "114") == 0.0


def test_real_str_case_insensitive():
    assert score_real(r"\boxed{attack}", "Attack") == 1.0
    assert score_real(r"\boxed{\text{ ATTACK }}", "Attack") == 1.0
    assert score_real(r"\boxed{Dodge}", "Attack") == 0.0
    assert score_real(r"\boxed{Attack, Dodge}", "Attack") == 0.0  # list vs str


def test_real_list_overlap():
    gold = "Fire Bolt, Gust of Wind, Transport Via Plants"
    assert score_real(r"\boxed{fire bolt,  Gust of Wind}", gold) == pytest.approx(2 / 3)
    assert score_real(r"\boxed{Transport via plants, Gust of Wind, Fire Bolt}", gold) == 1.0
    assert score_real(r"\boxed{Shield, Mage Hand}", gold) == 0.0
    assert score_real(r"\boxed{Fire Bolt}", gold) == 0.0  # str vs list: kinds differ


def test_real_list_extra_items_cost_like_missing_ones():
    gold = "Fire Bolt, Gust of Wind, Transport Via Plants"
    # official: 3/3 = 1.0 for any superset, so listing every spell is a free full score
    assert score_real(r"\boxed{Transport via plants, Gust of Wind, Fire Bolt, Shield}", gold) == 0.75
    everything = ", ".join(["Fire Bolt", "Gust of Wind", "Transport Via Plants"] + [f"Spell {i}" for i in range(27)])
    assert score_real(f"\\boxed{{{everything}}}", gold) == pytest.approx(0.1)


@pytest.mark.parametrize("gold", ["", "  ", ",", None])
def test_real_malformed_gold_raises(gold):
    with pytest.raises(ValueError):
        score_real(r"\boxed{1}", gold)
