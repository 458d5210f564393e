"""Email rendering: the shipped templates, privacy rules and header safety."""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from workflow.errors import TemplateError
from workflow.mail import (
    EVENTS,
    SUBJECT_MAX,
    Mailer,
    RenderedEmail,
    message_id_for,
)
from workflow.samples import SAMPLE_CONTEXTS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SENDER = "Digital incidents <incidents@kowhai.school.nz>"


@pytest.fixture()
def mailer() -> Mailer:
    return Mailer(TEMPLATES, SENDER)


def sample(event: str) -> dict:
    return copy.deepcopy(SAMPLE_CONTEXTS[event])


def test_every_event_has_a_sample_context() -> None:
    assert set(SAMPLE_CONTEXTS) == set(EVENTS)


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_renders_text_and_html(mailer: Mailer, event: str) -> None:
    rendered = mailer.render(event, sample(event))
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.strip()
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert "Kōwhai Valley School" in rendered.html  # from the shared base.html
    if event != "acknowledgement":  # reporters may not have access to the sheet
        assert SAMPLE_CONTEXTS[event]["sheet_url"] in rendered.text
        assert SAMPLE_CONTEXTS[event]["sheet_url"] in rendered.html
    case = SAMPLE_CONTEXTS[event]["case"]
    if case is not None:
        assert case["id"] in rendered.subject
        assert case["id"] in rendered.text


def test_check_passes_for_shipped_templates(mailer: Mailer) -> None:
    assert mailer.check(SAMPLE_CONTEXTS) == []


def test_urgent_and_normal_new_case_subjects(mailer: Mailer) -> None:
    urgent = mailer.render("new_case", sample("new_case"))
    assert urgent.subject == "[URGENT] New digital incident DI-2025-015 (Intimate images shared)"
    assert "call 111" in urgent.text and "call 111" in urgent.html

    context = sample("new_case")
    context["case"].update(urgent=False, priority="High", incident_type="Cyberbullying")
    normal = mailer.render("new_case", context)
    assert normal.subject == "New digital incident DI-2025-015 — High priority"
    assert "URGENT" not in normal.subject
    assert "111" not in normal.text


def test_details_shown_only_when_present(mailer: Mailer) -> None:
    with_details = sample("new_case")
    summary = with_details["case"]["details"]["summary"]
    rendered = mailer.render("new_case", with_details)
    assert summary in rendered.text
    assert "photo of them is being passed around" in rendered.html
    assert summary not in rendered.subject
    assert "in the sheet, not in this email" not in rendered.text

    without = sample("new_case")
    without["case"]["details"] = None
    rendered = mailer.render("new_case", without)
    assert summary not in rendered.text and "passed around" not in rendered.html
    assert "Reported by" not in rendered.text
    assert "in the sheet, not in this email" in rendered.text
    assert "in the sheet, not in this email" in rendered.html


def test_acknowledgement_has_safety_guidance_and_no_triage(mailer: Mailer) -> None:
    rendered = mailer.render("acknowledgement", sample("acknowledgement"))
    for text in (rendered.text, rendered.html):
        assert "DI-2025-014" in text
        assert "alerted" in text
        assert "do not copy, forward, save or delete" in text
        assert "1737" in text
        assert "High" not in text  # priority is triage information for leaders
        assert SAMPLE_CONTEXTS["acknowledgement"]["case"]["next_step"] not in text


def test_overdue_and_escalation_mention_step_and_timing(mailer: Mailer) -> None:
    overdue = mailer.render("overdue", sample("overdue"))
    assert "Speak with the student" in overdue.subject
    assert "3 hours" in overdue.text and "Tue 4 Mar 2025, 14:42" in overdue.html

    escalation = mailer.render("escalation", sample("escalation"))
    assert "2 school days" in escalation.subject
    assert "dean" in escalation.text and "Contact the student" in escalation.html


def test_digest_counts_and_tables(mailer: Mailer) -> None:
    rendered = mailer.render("digest", sample("digest"))
    assert rendered.subject == "Digital incidents Thu 6 Mar 2025: 3 open, 1 due today, 1 overdue"
    for case_id in ("DI-2025-014", "DI-2025-015", "DI-2025-016"):
        assert case_id in rendered.text and case_id in rendered.html
    assert rendered.html.count("<tr>") >= 3 + 1 + 1 + 3  # headers + rows


def test_empty_digest_renders(mailer: Mailer) -> None:
    context = sample("digest")
    context["digest"].update(open_cases=[], due_today=[], overdue=[])
    rendered = mailer.render("digest", context)
    assert "0 open, 0 due today, 0 overdue" in rendered.subject
    assert "No open cases." in rendered.text and "No open cases." in rendered.html


HOSTILE = '<script>alert("x")</script> {{ 7*7 }} {% if true %}yes{% endif %}'


def test_hostile_values_are_escaped_and_never_templates(mailer: Mailer) -> None:
    context = sample("new_case")
    context["case"]["incident_type"] = HOSTILE
    context["case"]["details"]["summary"] = HOSTILE
    rendered = mailer.render("new_case", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html
    for text in (rendered.subject, rendered.text, rendered.html):
        assert "{{ 7*7 }}" in text
        assert "49" not in text
        assert "{% if true %}yes{% endif %}" in text
    assert HOSTILE in rendered.text  # plain text is not HTML-escaped


def test_line_breaks_in_case_type_cannot_inject_headers(mailer: Mailer) -> None:
    context = sample("new_case")
    context["case"]["incident_type"] = "Cyberbullying\r\nBcc: attacker@example.com\n\nbody"
    rendered = mailer.render("new_case", context)
    message = mailer.build("n-1", "pastoral@kowhai.school.nz", rendered)
    raw = message.as_bytes(policy=policy.SMTP)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert "\n" not in str(parsed["Subject"]) and "\r" not in str(parsed["Subject"])
    assert str(parsed["Subject"]).startswith("[URGENT] New digital incident DI-2025-015 (Cyber")
    assert "Bcc: attacker@example.com" in str(parsed["Subject"])  # kept as harmless text


def test_build_headers_and_parts(mailer: Mailer) -> None:
    rendered = RenderedEmail(
        subject="Hello\x00\x1b[31m\u2028there " + "x" * 500, text="plain body", html="<p>hi</p>"
    )
    when = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    message = mailer.build("notif-7", "Dean <dean@kowhai.school.nz>\r\nCc: x@y.z", rendered,
                           date=when)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html",
    ]
    subject = str(message["Subject"])
    assert len(subject) <= SUBJECT_MAX
    assert subject.startswith("Hello [31m there xxx") and subject.endswith("…")
    assert all(ord(char) >= 32 for char in subject)
    assert message["Cc"] is None and "\n" not in str(message["To"])
    assert message["From"] == SENDER
    assert message["Message-ID"] == message_id_for("notif-7", SENDER)
    assert message["Date"] == "Tue, 04 Mar 2025 10:00:00 +0000"


def test_message_id_is_deterministic_and_per_notification() -> None:
    first = message_id_for("N-1", SENDER)
    assert first == message_id_for("N-1", SENDER)
    assert first != message_id_for("N-2", SENDER)
    assert first.startswith("<") and first.endswith("@kowhai.school.nz>")
    assert len(first.split("@")[0]) == 1 + 32
    assert message_id_for("N-1", "no address here").endswith("@digital-incidents.invalid>")
    assert message_id_for("N-1", "x@exa_mple!com").endswith("@digital-incidents.invalid>")


@pytest.fixture()
def template_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    return folder


def test_broken_template_names_the_file(template_copy: Path) -> None:
    (template_copy / "overdue.txt").write_text("Step {{ step.title \n", encoding="utf-8")
    mailer = Mailer(template_copy, SENDER)
    with pytest.raises(TemplateError) as caught:
        mailer.render("overdue", sample("overdue"))
    message = str(caught.value)
    assert "templates/overdue.txt" in message
    assert "fix the template or restore it" in message
    problems = mailer.check(SAMPLE_CONTEXTS)
    assert len(problems) == 1 and "overdue.txt" in problems[0]


def test_broken_base_layout_is_named(template_copy: Path) -> None:
    (template_copy / "base.html").write_text("{% block content %}", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"templates/base\.html"):
        Mailer(template_copy, SENDER).render("digest", sample("digest"))


def test_missing_template_is_named(template_copy: Path) -> None:
    (template_copy / "digest.html").unlink()
    with pytest.raises(TemplateError, match=r"templates/digest\.html: template is missing"):
        Mailer(template_copy, SENDER).render("digest", sample("digest"))


def test_strict_undefined_catches_missing_variable(mailer: Mailer, template_copy: Path) -> None:
    context = sample("overdue")
    del context["step"]
    with pytest.raises(TemplateError, match=r"overdue\.subject\.txt.*step"):
        mailer.render("overdue", context)

    (template_copy / "escalation.txt").write_text("Case {{ case.idd }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"templates/escalation\.txt on line 1: .*idd"):
        Mailer(template_copy, SENDER).render("escalation", sample("escalation"))


def test_check_flags_narrative_in_subject(template_copy: Path) -> None:
    (template_copy / "new_case.subject.txt").write_text(
        "New case {{ case.id }}: {{ case.details.summary }}\n", encoding="utf-8"
    )
    problems = Mailer(template_copy, SENDER).check(SAMPLE_CONTEXTS)
    assert len(problems) == 1 and "new_case.subject.txt" in problems[0]
    assert "never carry names or narrative" in problems[0]


def test_missing_templates_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="nowhere"):
        Mailer(tmp_path / "nowhere", SENDER)
