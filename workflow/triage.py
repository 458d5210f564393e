"""Triage: a report's answers → priority, who must know at once, and which steps apply.

Rules are data (workflow/data/triage.toml, overridable in config). Priority is the
highest any matching rule gives; roles are the union. Unknown answers never stop
intake: they are noted so the Log can say what was not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .config import PRIORITY_ORDER, Config, FormField, TriageRule


@dataclass(frozen=True)
class Answers:
    """A report's answers, parsed against the form mapping."""

    chosen: dict[str, tuple[str, ...]]   # choice/checkbox field -> recognised options
    text: dict[str, str]                  # every field -> the raw answer text
    unrecognised: tuple[str, ...]         # question titles whose answer was not a known option


@dataclass(frozen=True)
class Triage:
    priority: str
    roles: tuple[str, ...]
    flags: frozenset[str]
    reasons: tuple[str, ...]              # names of the rules that matched
    incident_types: tuple[str, ...]


def split_checkboxes(text: str, options: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Split Google's ", "-joined checkbox answer into known options and leftovers.

    Some option texts contain ", " themselves ("Adult contact, grooming or sextortion"),
    so neighbouring pieces are re-joined when together they make a known option.
    """
    known = {option.casefold(): option for option in options}
    pieces = [piece.strip() for piece in text.split(", ")] if text.strip() else []
    found: list[str] = []
    unknown: list[str] = []
    index = 0
    while index < len(pieces):
        for end in range(len(pieces), index, -1):
            candidate = ", ".join(pieces[index:end]).casefold()
            if candidate in known:
                found.append(known[candidate])
                index = end
                break
        else:
            if pieces[index]:
                unknown.append(pieces[index])
            index += 1
    return found, unknown


def parse_answers(raw: Mapping[str, str], form: tuple[FormField, ...]) -> Answers:
    chosen: dict[str, tuple[str, ...]] = {}
    unrecognised: list[str] = []
    for form_field in form:
        text = (raw.get(form_field.field) or "").strip()
        if form_field.kind == "checkboxes":
            found, unknown = split_checkboxes(text, form_field.options)
        elif form_field.kind == "choice":
            match = [o for o in form_field.options if o.casefold() == text.casefold()]
            found, unknown = (match, []) if match or not text else ([], [text])
        else:
            continue
        chosen[form_field.field] = tuple(dict.fromkeys(found))
        if unknown:
            unrecognised.append(form_field.question)
    return Answers(chosen, {k: (v or "") for k, v in raw.items()}, tuple(unrecognised))


def rule_matches(rule: TriageRule, answers: Answers) -> bool:
    for field_name, wanted in rule.any_of:
        given = answers.chosen.get(field_name, ())
        if "*" in wanted and (given or answers.text.get(field_name, "").strip()):
            return True
        if any(option in given for option in wanted):
            return True
    for field_name in rule.text_fields:
        text = answers.text.get(field_name, "")
        if text and any(re.search(pattern, text) for pattern in rule.text_patterns):
            return True
    return False


def triage(answers: Answers, config: Config) -> Triage:
    priority = config.default_priority
    roles: list[str] = []
    flags: set[str] = set()
    reasons: list[str] = []
    prioritised = False
    for rule in config.triage:
        if not rule_matches(rule, answers):
            continue
        reasons.append(rule.name)
        if rule.priority:
            prioritised = True
            if PRIORITY_ORDER[rule.priority] > PRIORITY_ORDER[priority]:
                priority = rule.priority
        roles.extend(rule.notify)
        flags.update(rule.flags)
    if not prioritised:
        roles = list(config.default_notify) + roles
    types = answers.chosen.get("incident_types", ())
    return Triage(
        priority=priority,
        roles=tuple(dict.fromkeys(roles)),
        flags=frozenset(flags),
        reasons=tuple(reasons),
        incident_types=types,
    )


def describe_types(result: Triage, answers: Answers, config: Config) -> str:
    """The Incident type cell: recognised types, plus 'Other' for an answer not recognised."""
    types = list(result.incident_types)
    question = config.field_for("incident_types")
    if question and question.question in answers.unrecognised and "Other" not in types:
        types.append("Other")
    return "; ".join(types) if types else "Not stated"
