"""``digital-incidents demo``: a realistic, fictional school week, with no account needed.

Writes ``demo/config.toml`` (the example config pointed at the demo workbook and
outbox), a workbook whose responses tab holds fictional reports, and nothing else.
Every name here is made up; initials only, as a careful reporter would write.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .model import CellValue

Q_TYPE = "What kind of incident is it?"
Q_RISK = "Is anyone at immediate risk of harm?"
Q_U18 = "Does it involve a nude or sexual image of anyone under 18?"
Q_WHO = "Who is affected?"
Q_WHERE = "Did it happen at school or outside school?"
Q_ONLINE = "Where online did it happen?"
Q_WHAT = "What happened?"
Q_INVOLVED = "Who is involved?"
Q_DONE = "What have you done so far?"

RESPONSE_HEADERS = ["Timestamp", "Email Address", Q_TYPE, Q_RISK, Q_U18, Q_WHO, Q_WHERE, Q_ONLINE, Q_WHAT,
                    Q_INVOLVED, Q_DONE]

# (hours before now, reporter, type, risk, under-18 image, affected, where, online, what, involved, done)
DEMO_REPORTS: list[tuple[float, str, str, str, str, str, str, str, str, str, str]] = [
    (50, "j.tane@school.example", "Cyberbullying or harassment", "No", "No", "Students", "Outside school",
     "Group chat on Instagram", "Year 9 student is being called names in a class group chat every night.",
     "Target: A.B. (Y9); others in the chat", "Spoke with A.B., who is upset but safe."),
    (29, "m.lee@school.example", "Nude or intimate images shared", "Not sure", "Yes", "Students", "Both",
     "Snapchat", "A student says an intimate image of her is being passed around. I have not seen it.",
     "C.D. (Y10); unknown senders", "Stayed with C.D.; told her not to delete anything yet."),
    (26, "r.singh@school.example", "Fight or assault filmed", "No", "No", "Students", "At school",
     "TikTok", "A lunchtime fight was filmed and posted; the video has many views.",
     "E.F. and G.H. (Y11)", "Separated the students; nurse checked E.F."),
    (24, "office@school.example", "Privacy breach", "No", "No", "Students and staff", "At school",
     "Shared drive", "A spreadsheet with student contact details was shared to a public link by mistake.",
     "Admin team", "Link switched off."),
    (9, "k.wong@school.example", "Self-harm or suicide risk", "Yes", "No", "Students", "Outside school",
     "Discord", "A friend showed me messages where a student talks about wanting to die.",
     "I.J. (Y12)", "Told the counsellor straight away."),
    (7, "t.ngata@school.example", "Threats of violence", "Not sure", "No", "Students", "Outside school",
     "Anonymous messaging app", "Anonymous messages threaten to 'get' a student after school.",
     "K.L. (Y8)", "K.L.'s caregiver is collecting them today."),
    (6.5, "s.brown@school.example", "Adult contact, grooming or sextortion", "Not sure", "Not sure", "Students",
     "Outside school", "Online game chat", "An adult asked a student for photos and threatens to share chats.",
     "M.N. (Y9)", "Kept the username and times; did not ask for screenshots."),
    (8, "l.martin@school.example", "Impersonation or fake account", "No", "No", "Staff", "Outside school",
     "Instagram", "A fake account uses a teacher's name and photo to post insults.",
     "A teacher; account @not.really.them", "Reported the account to the platform."),
    (6, "p.fale@school.example", "Other harmful images or video", "No", "No", "Students", "At school",
     "Messaging app", "A violent video is being shared among Year 7 students.",
     "Several Y7 students", "Asked students to stop sharing; noted the link."),
    (5, "a.kaur@school.example", "Cyberbullying or harassment, Impersonation or fake account", "No", "No",
     "Students", "Both", "Snapchat", "Someone made a fake account of a student and posts mean comments from it.",
     "O.P. (Y10)", "Spoke with O.P."),
    (3, "parent.volunteer@example.org", "Other", "No", "No", "Students", "Outside school", "Facebook",
     "A parent group is posting about a student by name.", "Q.R. (Y6)", "Told the office."),
    (2, "d.smith@school.example", "Sexting between students", "No", "No", "Students", "Not sure", "Unknown",
     "Students mentioned messages going around; no details yet.", "Unknown", "Nothing yet."),
    (1, "h.ali@school.example", "Cyberbullying or harassment", "No", "No", "Students", "Outside school",
     "YouTube comments", "=HYPERLINK(\"http://example.invalid\",\"click\") was posted under a student's video "
     "along with <b>abusive</b> comments and {{ template-looking }} text.", "S.T. (Y11)", "Noted the links."),
]


def demo_rows(now: datetime) -> list[list[CellValue]]:
    """The demo's form responses, timed relative to ``now`` so some steps are already due."""
    rows: list[list[CellValue]] = []
    for hours, reporter, kind, risk, u18, who, where, online, what, involved, done in DEMO_REPORTS:
        stamp = (now - timedelta(hours=hours)).replace(microsecond=0, second=0)
        rows.append([stamp, reporter, kind, risk, u18, who, where, online, what, involved, done])
    return rows


def demo_config_text(example: str) -> str:
    """The example config, pointed at the demo workbook and outbox."""
    text = example
    text = re.sub(r'(?m)^path = ".*?"', 'path = "incidents.xlsx"', text)
    text = re.sub(r'(?m)^outbox_dir = ".*?"', 'outbox_dir = "outbox"', text)
    text = re.sub(r'(?m)^sheet_url = ".*?"', 'sheet_url = "file:incidents.xlsx"', text)
    text = re.sub(r'(?m)^closed = \[.*?\]', 'closed = []                              # demo: no holidays', text)
    return "# Written by `digital-incidents demo`: the example config, pointed at this folder.\n" + text
