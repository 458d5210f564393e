"""Cell values: parsing what users type, evaluating the few formulas emulated, formatting."""

from __future__ import annotations

import ast
import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .base import DATETIME_TYPES, ERROR_TEXT, SERIAL_EPOCH


def to_serial(value: dt.datetime | dt.date | dt.time) -> float:
    """A (naive, sheet wall-clock) datetime/date/time as a Sheets serial number."""
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - SERIAL_EPOCH
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    if isinstance(value, dt.date):
        return float((value - SERIAL_EPOCH.date()).days)
    return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400


def from_serial(serial: float) -> dt.datetime:
    """Serial number -> naive datetime, rounded to the millisecond as Sheets keeps it."""
    return SERIAL_EPOCH + dt.timedelta(milliseconds=round(serial * 86_400_000))


def _json_number(value: Any) -> Any:
    """Integral doubles print as integers in Google's JSON ("1", not "1.0")."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_NUMBER = re.compile(r"([+-]?)(\$?)([0-9][0-9.,]*|\.[0-9]+)((?:[eE][+-]?[0-9]+)?)(%?)")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_PLAIN = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])[Mm])?")


def _parse_number(text: str) -> tuple[float, dict[str, str] | None] | None:
    match = _NUMBER.fullmatch(text)
    if not match:
        return None
    sign, currency, body, exponent, percent = match.groups()
    grouped = "," in body
    if grouped:
        if not _GROUPED.fullmatch(body):
            return None
        body = body.replace(",", "")
    if not _PLAIN.fullmatch(body):
        return None
    value = float(body + exponent)
    if sign == "-":
        value = -value
    number_format: dict[str, str] | None = None
    if percent:
        value /= 100
        number_format = {"type": "PERCENT", "pattern": "0.00%" if "." in body else "0%"}
    elif currency:
        number_format = {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
    elif exponent:
        number_format = {"type": "SCIENTIFIC", "pattern": "0.00E+00"}
    elif grouped:
        number_format = {"type": "NUMBER", "pattern": "#,##0.00" if "." in body else "#,##0"}
    return value, number_format


def _parse_datetime(text: str, locale: str) -> tuple[float, dict[str, str]] | None:
    us = locale.startswith("en_US")
    try:
        match = _ISO_DATE.fullmatch(text)
        if match:
            y, mo, d, h, mi, s = match.groups()
            date_pattern = "yyyy-mm-dd"
        else:
            match = _SLASH_DATE.fullmatch(text)
            if match:
                a, b, y, h, mi, s = match.groups()
                mo, d = (a, b) if us else (b, a)
                date_pattern = "m/d/yyyy" if us else "d/mm/yyyy"
            else:
                match = _TIME.fullmatch(text)
                if not match:
                    return None
                hh, mi, s, ampm = match.groups()
                hour = int(hh)
                if ampm:
                    if not 1 <= hour <= 12:
                        return None
                    hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
                pattern = "h:mm:ss am/pm" if ampm else ("h:mm:ss" if s else "h:mm")
                return to_serial(dt.time(hour, int(mi), int(s or 0))), {"type": "TIME", "pattern": pattern}
        moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    if h is None:
        return to_serial(moment), {"type": "DATE", "pattern": date_pattern}
    return to_serial(moment), {"type": "DATE_TIME", "pattern": date_pattern + " h:mm:ss"}


def _user_entered(text: str, locale: str, cell_format: dict[str, Any] | None,
                  ) -> tuple[dict[str, Any], dict[str, str] | None]:
    """What Sheets stores when ``text`` is typed (USER_ENTERED): (userEnteredValue, auto format)."""
    if (cell_format or {}).get("type") == "TEXT":
        return {"stringValue": text}, None
    if text.startswith("'"):
        return {"stringValue": text[1:]}, None
    if text.startswith("="):
        return {"formulaValue": text}, None
    stripped = text.strip()
    if stripped.upper() in ("TRUE", "FALSE"):
        return {"boolValue": stripped.upper() == "TRUE"}, None
    number = _parse_number(stripped)
    if number is not None:
        return {"numberValue": number[0]}, number[1]
    moment = _parse_datetime(stripped, locale)
    if moment is not None:
        return {"numberValue": moment[0]}, moment[1]
    if stripped[:1] in ("+", "-") and len(stripped) > 1:
        return {"formulaValue": "=" + stripped}, None
    return {"stringValue": text}, None


class _NotArithmetic(Exception):
    pass


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            return float(left**right)
    raise _NotArithmetic


_HYPERLINK = re.compile(r'=\s*HYPERLINK\(\s*"([^"]*)"\s*(?:[,;]\s*"([^"]*)"\s*)?\)\s*', re.I)


def evaluate_formula(formula: str) -> dict[str, Any]:
    """The effective value of a formula, as far as this emulator computes (see module doc)."""
    link = _HYPERLINK.fullmatch(formula)
    if link:
        return {"stringValue": link.group(2) if link.group(2) is not None else link.group(1)}
    expression = formula[1:].strip()
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError):
        return {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}
    try:
        value = _arith(tree.body)
    except ZeroDivisionError:
        return {"errorValue": {"type": "DIVIDE_BY_ZERO",
                               "message": "Function DIVIDE parameter 2 cannot be zero."}}
    except (OverflowError, TypeError):
        return {"errorValue": {"type": "NUM", "message": "Result was not a number."}}
    except _NotArithmetic:
        return {"errorValue": {"type": "ERROR",
                               "message": "Formula not evaluated by the Sheets emulator "
                                          "(only arithmetic and HYPERLINK are)."}}
    if math.isnan(value) or math.isinf(value):
        return {"errorValue": {"type": "NUM", "message": "Result was not a number."}}
    return {"numberValue": value}


def _effective(user_value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not user_value:
        return None
    if "formulaValue" in user_value:
        return evaluate_formula(user_value["formulaValue"])
    return dict(user_value)


def _number_format(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return ((cell or {}).get("userEnteredFormat") or {}).get("numberFormat")


def _is_datetime_format(number_format: dict[str, Any] | None) -> bool:
    return bool(number_format) and (number_format or {}).get("type") in DATETIME_TYPES


def _fixed(value: float, decimals: int) -> str:
    """Fixed-point text rounded half away from zero, as Sheets rounds (Python rounds half-even)."""
    quantum = Decimal(1).scaleb(-decimals)
    return f"{Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP):f}"


def _general(value: float) -> str:
    """Sheets' automatic number format."""
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e15 or abs(value) < 1e-9:
        mantissa, _, exponent = f"{value:.5E}".partition("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign = exponent[0]
        return f"{mantissa}E{sign}{int(exponent[1:]):02d}"
    text = _fixed(value, 10).rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|am/pm|a/p|yyyy|yy|mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|\.0{1,3}|.',
    re.I | re.S,
)


@functools.lru_cache(maxsize=256)
def _date_tokens(pattern: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    """Tokens of a date pattern as (text, kind); "m"/"mm" become "min"/"mmin" for minutes."""
    tokens = _DATE_TOKEN.findall(pattern)
    kinds = [t.lower() for t in tokens]
    twelve = any(k in ("am/pm", "a/p") for k in kinds)
    significant = [i for i, k in enumerate(kinds) if k[:1] in "ymdhs" and k != "a/p"]
    for index, kind in enumerate(kinds):
        if kind in ("m", "mm"):
            pos = significant.index(index)
            before = kinds[significant[pos - 1]] if pos > 0 else ""
            after = kinds[significant[pos + 1]] if pos + 1 < len(significant) else ""
            if before in ("h", "hh") or after in ("s", "ss"):
                kinds[index] = "min" if kind == "m" else "mmin"
    return tuple(zip(tokens, kinds, strict=True)), twelve


# Date/time tokens that need nothing but the moment, by kind.
_DATE_PARTS: dict[str, Callable[[dt.datetime], str]] = {
    "mmin": lambda m: f"{m.minute:02d}",
    "min": lambda m: str(m.minute),
    "mm": lambda m: f"{m.month:02d}",
    "m": lambda m: str(m.month),
    "yyyy": lambda m: f"{m.year:04d}",
    "yy": lambda m: f"{m.year % 100:02d}",
    "mmmmm": lambda m: _MONTHS[m.month - 1][0],
    "mmmm": lambda m: _MONTHS[m.month - 1],
    "mmm": lambda m: _MONTHS[m.month - 1][:3],
    "dddd": lambda m: _DAYS[m.weekday()],
    "ddd": lambda m: _DAYS[m.weekday()][:3],
    "dd": lambda m: f"{m.day:02d}",
    "d": lambda m: str(m.day),
    "ss": lambda m: f"{m.second:02d}",
    "s": lambda m: str(m.second),
}


def format_datetime(serial: float, pattern: str) -> str:
    """Render a serial number with a Sheets date/time pattern (subset, see module doc)."""
    moment = from_serial(serial)
    tokens, twelve = _date_tokens(pattern)
    return "".join(_date_part(token, kind, moment, twelve) for token, kind in tokens)


def _date_part(token: str, kind: str, moment: dt.datetime, twelve: bool) -> str:
    """One token of a date/time pattern, rendered."""
    part = _DATE_PARTS.get(kind)
    if part is not None:
        return part(moment)
    if kind in ("hh", "h"):
        hour = moment.hour % 12 or 12 if twelve else moment.hour
        return f"{hour:02d}" if kind == "hh" else str(hour)
    if kind.startswith(".0"):
        return "." + f"{moment.microsecond // 1000:03d}"[: len(kind) - 1]
    if kind in ("am/pm", "a/p"):
        text = ("AM" if moment.hour < 12 else "PM") if kind == "am/pm" else ("A" if moment.hour < 12 else "P")
        return text if token[:1].isupper() else text.lower()
    if token.startswith('"'):
        return token[1:-1]
    if token.startswith("\\"):
        return token[1:]
    return token


def _split_sections(pattern: str) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in pattern:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            sections.append("".join(current))
            current = []
        else:
            current.append(ch)
    sections.append("".join(current))
    return sections


def format_number_pattern(value: float, pattern: str) -> str:
    """Render with a numeric pattern: 0 # ? , . % E and literals (quoted, escaped or plain)."""
    sections = _split_sections(pattern)
    negative = value < 0
    section = sections[1] if negative and len(sections) > 1 and sections[1] else sections[0]
    explicit_sign = negative and len(sections) > 1 and bool(sections[1])
    prefix: list[str] = []
    core: list[str] = []
    suffix: list[str] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            literal = section[i + 1:end]
            (suffix if core else prefix).append(literal)
            i = end + 1
            continue
        if ch == "\\" and i + 1 < len(section):
            (suffix if core else prefix).append(section[i + 1])
            i += 2
            continue
        if ch in "0#?" or (ch in ".," and core and not suffix) \
                or (ch == "." and not core and i + 1 < len(section) and section[i + 1] in "0#?"):
            if suffix:  # placeholders after a literal: treat the literal as part of the core
                core.extend(suffix)
                suffix = []
            core.append(ch)
        elif ch in "Ee" and core and i + 1 < len(section) and section[i + 1] in "+-":
            core.append(section[i:i + 2])
            i += 2
            continue
        elif ch == "_" or ch == "*":
            i += 2
            continue
        else:
            (suffix if core else prefix).append(ch)
        i += 1
    magnitude = abs(value)
    literal = "".join(prefix) + "".join(suffix)
    if "%" in literal:
        magnitude *= 100
    core_text = "".join(core)
    if not core_text:
        body = ""
    elif "E" in core_text.upper():
        mantissa_part = re.split(r"[Ee][+-]", core_text)[0]
        decimals = len(mantissa_part.partition(".")[2])
        body = f"{magnitude:.{decimals}E}"
        mant, _, exp = body.partition("E")
        body = f"{mant}E{exp[0]}{int(exp[1:]):02d}"
    else:
        int_part, _, frac_part = core_text.partition(".")
        decimals = sum(1 for c in frac_part if c in "0#?")
        min_decimals = sum(1 for c in frac_part if c == "0")
        min_int = sum(1 for c in int_part if c == "0")
        grouping = "," in int_part
        whole, _, frac = _fixed(magnitude, decimals).partition(".")
        while len(frac) > min_decimals and frac.endswith("0"):
            frac = frac[:-1]
        whole = whole.lstrip("0")
        whole = whole.rjust(min_int, "0")
        if grouping and whole:
            whole = f"{int(whole):,}"
        body = whole + ("." + frac if frac else ("." if "." in core_text and decimals and
                                                   min_decimals else ""))
        if body == "" or body == ".":
            body = "0"
    sign = "-" if negative and not explicit_sign and magnitude != 0 else ""
    return sign + "".join(prefix) + body + "".join(suffix)


def _has_date_tokens(pattern: str) -> bool:
    bare = re.sub(r'"[^"]*"|\\.', "", pattern)
    return bool(re.search(r"[yYdDhHsS]", bare)) or bool(re.fullmatch(r"[mM]+", bare))


def _default_datetime_pattern(kind: str, locale: str) -> str:
    us = locale.startswith("en_US")
    date_part = "M/d/yyyy" if us else "d/MM/yyyy"
    if kind == "DATE":
        return date_part
    if kind == "TIME":
        return "h:mm:ss am/pm"
    return date_part + " H:mm:ss"


def format_number(value: float, number_format: dict[str, Any] | None, locale: str) -> str:
    """A number as FORMATTED_VALUE shows it, given the cell's numberFormat."""
    if not number_format:
        return _general(value)
    kind = number_format.get("type", "")
    pattern = number_format.get("pattern") or ""
    if kind in DATETIME_TYPES or (pattern and _has_date_tokens(pattern)):
        return format_datetime(value, pattern or _default_datetime_pattern(kind, locale))
    if not pattern:
        pattern = {"NUMBER": "#,##0.00", "PERCENT": "0.00%", "CURRENCY": '"$"#,##0.00',
                   "SCIENTIFIC": "0.00E+00"}.get(kind, "")
    if not pattern or kind == "TEXT":
        return _general(value)
    return format_number_pattern(value, pattern)


def _error_text(error: dict[str, Any]) -> str:
    return ERROR_TEXT.get(error.get("type", "ERROR"), "#ERROR!")


def format_effective(effective: dict[str, Any], number_format: dict[str, Any] | None,
                     locale: str) -> str:
    """formattedValue of an effective value."""
    if "stringValue" in effective:
        return effective["stringValue"]
    if "boolValue" in effective:
        return "TRUE" if effective["boolValue"] else "FALSE"
    if "errorValue" in effective:
        return _error_text(effective["errorValue"])
    return format_number(float(effective.get("numberValue", 0)), number_format, locale)


def _has_value(cell: dict[str, Any] | None) -> bool:
    return bool((cell or {}).get("userEnteredValue"))


