"""Terminal views: the status table and the digest preview (read only)."""

from __future__ import annotations

from datetime import datetime

from .config import Config
from .mail import Mailer
from .model import Snapshot
from .notifications import DIGEST
from .plan import plan_sync


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def status_table(snapshot: Snapshot, config: Config, now: datetime) -> str:
    """Open cases and overdue steps as of ``now``, as the next sync would see them."""
    plan = plan_sync(snapshot, config, now, digest=False)
    digest = plan.digest_context
    cases = digest["open_cases"]
    attention = attention_text(digest["attention"])
    if not cases:
        return "No open cases." + attention
    rows = [[c["id"], c["priority"], c["status"], _short(c["incident_type"], 34), _short(c["next_step"], 40),
             c["next_due"], str(c["overdue_steps"])] for c in cases]
    text = _table(["Case", "Priority", "Status", "Type", "Next step", "Next due", "Overdue"], rows)
    overdue = digest["overdue"]
    text += f"\n\n{len(cases)} open case(s); {len(overdue)} overdue step(s)"
    if overdue:
        text += "\n\n" + _table(["Case", "Overdue step", "Role", "Was due"],
                                [[o["case_id"], _short(o["step"], 60), o["role"], o["due"]] for o in overdue])
    return text + attention


def attention_text(items: list[dict[str, str]]) -> str:
    """The entries leaders typed that the worker cannot understand ('' when there are none)."""
    if not items:
        return ""
    rows = [[i["case_id"], i["where"], i["column"], i["problem"]] for i in items]
    return (f"\n\nNeeds a leader's attention ({len(items)}): the worker could not understand these entries\n\n"
            + _table(["Case", "Where", "Column", "What to do"], rows))


def digest_preview(snapshot: Snapshot, config: Config, now: datetime) -> str:
    """Today's digest as the first digest recipient would read it (text part)."""
    plan = plan_sync(snapshot, config, now, force_digest=True)
    delivery = next((d for d in plan.deliveries if d.event == DIGEST), None)
    if delivery is None:
        return "Today's digest was already sent."
    rendered = Mailer(config.templates_dir, config.email.sender).render(DIGEST, delivery.context)
    return f"To: {delivery.to}\nSubject: {rendered.subject}\n\n{rendered.text}"
