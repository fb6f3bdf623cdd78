"""Masking of personal data (e-mail addresses, phone numbers, payment cards).

Used before text is logged or kept in conversation history. It errs on the
side of masking real contact data, but leaves what a shop conversation is
made of alone: order numbers (``#1001``, ``SK-10045``), prices, dates,
sizes and quantities.

Digits are found as *runs*: digit groups joined by spaces, dashes, dots or
parentheses. Inside a run, the longest stretch of whole groups that is a
Luhn-valid card number or has the shape of a phone number is masked; a
stretch never starts or ends inside a dash- or dot-joined block, so a date
(``2024-05-01``) or an IP address is never cut into a "phone".
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+%-])([\w.+%-]+)@([\w-]+)((?:\.[\w-]+)*)\.([^\W\d_]{2,24})\b")

# Runs start on a digit, "+" or "(" not glued to a word, an order "#", a
# currency sign, a path, a decimal point or a minus sign.
_RUN = re.compile(
    r"(?<![A-Za-z0-9_#$€£¥₽/.,@+\-])"
    r"(?:\+ ?)?\(?[0-9]+(?:(?:[ .\-]\(?|\)[ .\-]?|\()[0-9]+)*"
)
_GROUP = re.compile(r"[0-9]+")
_MAX_GROUPS = 8  # no phone or card number is written in more groups than this


def mask_pii(text: str) -> str:
    """Return ``text`` with e-mails, phone numbers and card numbers masked.

    ``jane.doe@example.com`` → ``j***@e***.com``; ``+44 20 7946 0958`` →
    ``[phone ••58]``; ``4111 1111 1111 1111`` → ``[card •••• 1111]``.
    Masking is idempotent: masked text comes back unchanged.
    """
    if not text:
        return text
    text = _EMAIL.sub(_mask_email, text)
    return _RUN.sub(_mask_run, text)


def _mask_email(match: re.Match[str]) -> str:
    local, domain, tld = match.group(1), match.group(2), match.group(4)
    return f"{local[0]}***@{domain[0]}***.{tld}"


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    joints = [run[groups[k][1] : groups[k + 1][0]] for k in range(len(groups) - 1)]
    # A stretch may begin or end only where the run is joined by a space.
    cuttable = [" " in joint for joint in joints]
    out: list[str] = []
    done = 0  # run[:done] is already in out
    i = 0
    while i < len(groups):
        if i > 0 and not cuttable[i - 1]:
            i += 1
            continue
        for j in range(min(len(groups), i + _MAX_GROUPS) - 1, i - 1, -1):
            if j < len(groups) - 1 and not cuttable[j]:
                continue
            start = _stretch_start(run, groups, i)
            masked = _classify(run[start : groups[j][1]], joints[i:j])
            if masked is not None:
                out.append(run[done:start])
                out.append(masked)
                done = groups[j][1]
                i = j
                break
        i += 1
    out.append(run[done:])
    return "".join(out)


def _stretch_start(run: str, groups: list[tuple[int, int]], i: int) -> int:
    """Include a leading "+" (start of the run) or "(" in the stretch."""
    start = groups[i][0]
    if start > 0 and run[start - 1] == "(":
        start -= 1
    if i == 0 and run.startswith("+"):
        start = 0
    return start


def _classify(stretch: str, joints: list[str]) -> str | None:
    digits = "".join(ch for ch in stretch if ch.isdigit())
    lengths = [len(g) for g in _GROUP.findall(stretch)]
    if not stretch.startswith("+") and _is_card(digits, joints):
        return f"[card •••• {digits[-4:]}]"
    if _is_phone(stretch, digits, lengths, joints):
        return f"[phone ••{digits[-2:]}]"
    return None


def _is_card(digits: str, joints: list[str]) -> bool:
    return 13 <= len(digits) <= 19 and all(j in (" ", "-") for j in joints) and _luhn_ok(digits)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_phone(stretch: str, digits: str, lengths: list[int], joints: list[str]) -> bool:
    n = len(digits)
    if stretch.startswith("+"):
        return 8 <= n <= 15
    if digits.startswith("00"):  # international prefix instead of "+"
        return 10 <= n <= 15
    if len(lengths) == 1:
        return _is_unseparated_phone(digits)
    if any("." in joint for joint in joints):
        return lengths == [3, 3, 4]  # 555.123.4567; other dotted numbers are versions, IPs, prices
    if lengths == [3, 4]:
        return joints == ["-"]  # 555-1234
    if not 9 <= n <= 12:
        return False
    if lengths[0] == 1:
        return n == 11 and digits[0] in "18"  # 1 800 555 1234, 8 495 123 45 67
    if max(lengths) <= 2:
        return n == 10 and digits[0] == "0"  # 06 12 34 56 78; not a list of sizes
    return not (len(lengths) >= 3 and set(lengths) == {4})  # 1001 1002 1003 is a list of ids


def _is_unseparated_phone(digits: str) -> bool:
    if len(digits) == 11:
        return digits[0] == "0" or re.fullmatch(r"1[3-9][0-9]{9}", digits) is not None
    if len(digits) == 10:
        # A local number with trunk 0, or a NANP number (area code and exchange start with 2-9).
        return digits[0] == "0" or (digits[0] in "23456789" and digits[3] in "23456789")
    return False
