"""Tests for workflow.triage with the shipped form mapping and default triage table (SPEC §5)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workflow.config import Config
from workflow.triage import Answers, Triage, describe_types, parse_answers, split_checkboxes, triage

URGENT_ROLES = ("principal", "pastoral_lead", "counsellor")
HIGH_ROLES = ("principal", "pastoral_lead")
NORMAL_ROLES = ("pastoral_lead",)

TYPES_QUESTION = "What kind of incident is it?"
RISK_QUESTION = "Is anyone at immediate risk of harm?"


def run(config: Config, **raw: str) -> tuple[Answers, Triage]:
    answers = parse_answers(raw, config.form)
    return answers, triage(answers, config)


# -- each incident type alone ----------------------------------------------------------

TYPE_CASES = [
    ("Cyberbullying or harassment", "Normal", NORMAL_ROLES, frozenset()),
    ("Nude or intimate images shared", "Urgent", URGENT_ROLES, frozenset({"content"})),
    ("Other harmful images or video", "High", HIGH_ROLES, frozenset({"content"})),
    ("Fight or assault filmed", "High", HIGH_ROLES, frozenset({"content"})),
    ("Privacy breach", "Normal", ("pastoral_lead", "it_lead"), frozenset()),
    ("Self-harm or suicide risk", "Urgent", URGENT_ROLES, frozenset()),
    ("Threats of violence", "Urgent", URGENT_ROLES, frozenset({"content"})),
    ("Adult contact, grooming or sextortion", "Urgent", URGENT_ROLES, frozenset({"content"})),
    ("Impersonation or fake account", "High", HIGH_ROLES, frozenset()),
    ("Other", "Normal", NORMAL_ROLES, frozenset()),
]


@pytest.mark.parametrize("option, priority, roles, flags", TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_each_incident_type_alone(
    config: Config, option: str, priority: str, roles: tuple[str, ...], flags: frozenset[str]
) -> None:
    answers, result = run(config, incident_types=option)
    assert answers.chosen["incident_types"] == (option,)
    assert answers.unrecognised == ()
    assert result.priority == priority
    assert result.roles == roles
    assert result.flags == flags
    assert result.incident_types == (option,)


def test_every_shipped_option_is_covered_above(config: Config) -> None:
    field = config.field_for("incident_types")
    assert field is not None
    assert set(field.options) == {case[0] for case in TYPE_CASES}


@pytest.mark.parametrize(
    "other, priority, roles",
    [
        ("Self-harm or suicide risk", "Urgent", (*URGENT_ROLES, "it_lead")),
        ("Impersonation or fake account", "High", (*HIGH_ROLES, "it_lead")),
        ("Cyberbullying or harassment", "Normal", ("pastoral_lead", "it_lead")),
    ],
)
def test_privacy_breach_adds_it_lead_at_any_priority(
    config: Config, other: str, priority: str, roles: tuple[str, ...]
) -> None:
    _, result = run(config, incident_types=f"{other}, Privacy breach")
    assert result.priority == priority
    assert result.roles == roles
    assert "privacy breach" in result.reasons


# -- choice questions ---------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["Yes", "Not sure", "yes", "NOT SURE"])
def test_immediate_risk_yes_or_not_sure_is_urgent(config: Config, answer: str) -> None:
    answers, result = run(config, immediate_risk=answer)
    assert answers.unrecognised == ()
    assert result.priority == "Urgent"
    assert result.roles == URGENT_ROLES
    assert result.reasons == ("someone may be at immediate risk",)
    assert result.flags == frozenset()


def test_immediate_risk_no_is_normal(config: Config) -> None:
    _, result = run(config, immediate_risk="No")
    assert (result.priority, result.roles, result.reasons) == ("Normal", NORMAL_ROLES, ())


@pytest.mark.parametrize("answer", ["Yes", "Not sure"])
def test_under18_image_yes_or_not_sure_is_urgent_with_content_flag(config: Config, answer: str) -> None:
    _, result = run(config, under18_image=answer)
    assert result.priority == "Urgent"
    assert result.roles == URGENT_ROLES
    assert result.flags == frozenset({"content"})
    assert result.reasons == ("sexual image of someone under 18 (or not sure)",)


def test_under18_image_no_is_normal_without_content(config: Config) -> None:
    _, result = run(config, under18_image="No")
    assert (result.priority, result.flags) == ("Normal", frozenset())


@pytest.mark.parametrize("answer", ["Staff", "Students and staff"])
def test_staff_affected_is_high(config: Config, answer: str) -> None:
    _, result = run(config, affected=answer)
    assert (result.priority, result.roles, result.reasons) == ("High", HIGH_ROLES, ("staff affected",))


def test_students_affected_is_normal(config: Config) -> None:
    _, result = run(config, affected="Students")
    assert (result.priority, result.roles) == ("Normal", NORMAL_ROLES)


# -- free text -------------------------------------------------------------------------------

WORDS_RULE = "words suggesting self-harm or suicide in the account"


@pytest.mark.parametrize(
    "text",
    [
        "A student said she wants to die.",
        "Group chat was talking about suicide.",
        "Photos of self-harm were posted.",
        "He says he is self harming",
        "Someone wrote 'kys' under her post",
        "She said she would kill herself",
        "Messages about ending her life",
        "SUICIDAL messages overnight",
    ],
)
def test_self_harm_words_in_what_happened_are_urgent(config: Config, text: str) -> None:
    _, result = run(config, what_happened=text)
    assert result.priority == "Urgent"
    assert result.roles == URGENT_ROLES
    assert result.reasons == (WORDS_RULE,)


def test_self_harm_words_in_actions_taken_are_urgent(config: Config) -> None:
    _, result = run(config, actions_taken="Called parents; he had talked about suicide")
    assert result.priority == "Urgent"


@pytest.mark.parametrize(
    "text",
    [
        "She killed it in the debate and others got jealous",
        "It seemed harmless at first",
        "Mean comments about his haircut",
        "The skill-share group chat",
        "",
    ],
)
def test_harmless_text_is_not_urgent(config: Config, text: str) -> None:
    _, result = run(config, what_happened=text)
    assert result.priority == "Normal"
    assert result.reasons == ()


def test_self_harm_words_only_count_in_the_rule_text_fields(config: Config) -> None:
    _, result = run(config, where_online="a forum about suicide prevention")
    assert result.priority == "Normal"


# -- blanks, combinations, reasons ---------------------------------------------------------------


def test_blank_answers_are_normal(config: Config) -> None:
    raw = {f.field: "" for f in config.form}
    answers, result = run(config, **raw)
    assert answers.unrecognised == ()
    assert all(chosen == () for chosen in answers.chosen.values())
    assert result == Triage("Normal", NORMAL_ROLES, frozenset(), (), ())


def test_no_answers_at_all_is_normal(config: Config) -> None:
    _, result = run(config)
    assert (result.priority, result.roles, result.reasons) == ("Normal", NORMAL_ROLES, ())


def test_highest_priority_wins_roles_union_reasons_in_rule_order(config: Config) -> None:
    _, result = run(
        config,
        incident_types="Impersonation or fake account, Privacy breach",
        affected="Staff",
        immediate_risk="Not sure",
    )
    assert result.priority == "Urgent"
    assert result.roles == ("principal", "pastoral_lead", "counsellor", "it_lead")
    assert result.reasons == (
        "someone may be at immediate risk",
        "impersonation or fake account",
        "staff affected",
        "privacy breach",
    )


def test_high_and_normal_signals_give_high(config: Config) -> None:
    _, result = run(config, incident_types="Cyberbullying or harassment, Fight or assault filmed")
    assert result.priority == "High"
    assert result.roles == HIGH_ROLES
    assert result.flags == frozenset({"content"})
    assert result.reasons == ("fight or assault filmed",)


# -- checkboxes ------------------------------------------------------------------------------------

ADULT = "Adult contact, grooming or sextortion"


@pytest.mark.parametrize(
    "cell, expected",
    [
        (ADULT, (ADULT,)),
        (f"{ADULT}, Privacy breach", (ADULT, "Privacy breach")),
        (f"Privacy breach, {ADULT}", ("Privacy breach", ADULT)),
        (f"Threats of violence, {ADULT}, Other", ("Threats of violence", ADULT, "Other")),
        (f"Other, {ADULT}, Cyberbullying or harassment", ("Other", ADULT, "Cyberbullying or harassment")),
    ],
)
def test_checkbox_option_containing_a_comma(config: Config, cell: str, expected: tuple[str, ...]) -> None:
    answers, result = run(config, incident_types=cell)
    assert answers.chosen["incident_types"] == expected
    assert answers.unrecognised == ()
    assert result.priority == "Urgent"
    assert "adult contact, grooming or sextortion" in result.reasons
    assert "content" in result.flags


def test_split_checkboxes_directly() -> None:
    options = ("A, b", "A", "C")
    assert split_checkboxes("A, b, C", options) == (["A, b", "C"], [])
    assert split_checkboxes("C, A", options) == (["C", "A"], [])
    assert split_checkboxes("a, B, zzz", options) == (["A, b"], ["zzz"])
    assert split_checkboxes("   ", options) == ([], [])


def test_checkbox_answers_are_case_insensitive_and_deduplicated(config: Config) -> None:
    answers, _ = run(config, incident_types="privacy breach, Privacy breach")
    assert answers.chosen["incident_types"] == ("Privacy breach",)


def test_unknown_checkbox_option_is_reported_and_case_still_triages(config: Config) -> None:
    answers, result = run(config, incident_types="Cyberbullying or harassment, Doxxing, Privacy breach")
    assert answers.chosen["incident_types"] == ("Cyberbullying or harassment", "Privacy breach")
    assert answers.unrecognised == (TYPES_QUESTION,)
    assert result.priority == "Normal"
    assert result.roles == ("pastoral_lead", "it_lead")


def test_unknown_checkbox_option_alone_is_normal(config: Config) -> None:
    answers, result = run(config, incident_types="Something the form added later")
    assert answers.chosen["incident_types"] == ()
    assert answers.unrecognised == (TYPES_QUESTION,)
    assert (result.priority, result.roles, result.reasons) == ("Normal", NORMAL_ROLES, ())


def test_unknown_checkbox_option_with_an_urgent_one_is_urgent(config: Config) -> None:
    answers, result = run(config, incident_types="Doxxing, Threats of violence")
    assert answers.unrecognised == (TYPES_QUESTION,)
    assert result.priority == "Urgent"


def test_unknown_choice_answer_is_reported_and_case_still_triages(config: Config) -> None:
    answers, result = run(config, immediate_risk="Maybe", affected="Parents")
    assert answers.chosen["immediate_risk"] == ()
    assert answers.unrecognised == (RISK_QUESTION, "Who is affected?")
    assert (result.priority, result.roles, result.reasons) == ("Normal", NORMAL_ROLES, ())


def test_unknown_choice_answer_with_another_rule(config: Config) -> None:
    answers, result = run(config, immediate_risk="Maybe", incident_types="Fight or assault filmed")
    assert answers.unrecognised == (RISK_QUESTION,)
    assert result.priority == "High"


def test_unrecognised_uses_the_configured_question_title(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"immediate_risk": '"Is someone in danger right now?"'})
    answers, _ = run(config, immediate_risk="Perhaps")
    assert answers.unrecognised == ("Is someone in danger right now?",)


def test_text_answers_are_kept_raw(config: Config) -> None:
    answers, _ = run(config, what_happened="  Line one\nline two  ", involved="AB, CD")
    assert answers.text["what_happened"] == "  Line one\nline two  "
    assert answers.text["involved"] == "AB, CD"
    assert "what_happened" not in answers.chosen


# -- describe_types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("", "Not stated"),
        ("Privacy breach", "Privacy breach"),
        (f"Privacy breach, {ADULT}", f"Privacy breach; {ADULT}"),
        ("Doxxing", "Other"),
        ("Cyberbullying or harassment, Doxxing", "Cyberbullying or harassment; Other"),
        ("Other, Doxxing", "Other"),
    ],
)
def test_describe_types(config: Config, cell: str, expected: str) -> None:
    answers, result = run(config, incident_types=cell)
    assert describe_types(result, answers, config) == expected


def test_describe_types_ignores_other_questions_unrecognised(config: Config) -> None:
    answers, result = run(config, incident_types="Privacy breach", immediate_risk="Maybe")
    assert describe_types(result, answers, config) == "Privacy breach"
