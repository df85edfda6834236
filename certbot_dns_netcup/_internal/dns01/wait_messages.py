"""What the propagation wait tells the user: progress lines, warnings, and the timeout report.

The wait (propagation.py) decides; this module only words its decisions, from
plain data, so that the loop reads as a loop.  Nothing here names a provider:
the caller passes in how to name the bound (e.g. its command-line option).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

from .dnsquery import Observation

# Lines of detail in a timeout message before the rest is summarized.
MAX_REPORT_LINES = 30
MAX_PROGRESS_ENTRIES = 4


def plural(count: int, word: str, plural_form: str = "") -> str:
    return f"{count} {word}" if count == 1 else f"{count} {plural_form or word + 's'}"


def seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def waiting(addresses: int, records: int, bound: float) -> str:
    where = plural(addresses, "nameserver address", "nameserver addresses")
    return f"Waiting for {where} to serve {plural(records, 'TXT record')} (at most {seconds(bound)} s)"


def server_ready(server: str, records: int, zone: Optional[str], after: float) -> str:
    of_zone = f" of {zone}" if zone else ""
    return f"{server} serves all {plural(records, 'record')}{of_zone} after {after:.1f} s"


def unreachable_family(family: str, servers: Sequence[str]) -> str:
    return f"{family} is not reachable from this host; not waiting for {', '.join(servers)}"


def progress(
    elapsed: float,
    ready: int,
    active: int,
    missing: Sequence[tuple[str, str, Optional[Observation], frozenset[str], int]],
) -> str:
    """``missing``: per server still waited for, (label, first name it lacks, what it said, expected, others)."""
    parts = []
    for label, name, seen, expected, others in missing[:MAX_PROGRESS_ENTRIES]:
        part = f"{label}: {name} " + (seen.describe(expected) if seen else "not answered yet")
        parts.append(part + (f" (+{others} more)" if others else ""))
    if len(missing) > MAX_PROGRESS_ENTRIES:
        parts.append(f"and {len(missing) - MAX_PROGRESS_ENTRIES} more")
    return f"Still waiting after {elapsed:.0f} s: {ready} of {active} nameservers ready; {'; '.join(parts)}"


def lost_again(label: str, name: str, others: int, seen: str) -> str:
    more = f" (+{others} more)" if others else ""
    return (
        f"{label} no longer serves {name}{more}: {seen}; it may have reloaded an older copy of the zone, "
        "waiting for it again"
    )


def zone_not_checked(zone: str, lame: bool) -> str:
    if lame:
        return f"Warning: no nameserver of {zone} serves the zone (all lame or unreachable): not checked"
    return f"Warning: no nameserver of {zone} is reachable from this host: not checked"


def silent_left_out(servers: Sequence[str], silent_before: bool, elapsed: float) -> str:
    since = "since before the records were created" if silent_before else f"in {elapsed:.0f} s"
    return (
        f"Warning: not waiting any longer for {', '.join(servers)}: no answer to any query (UDP or TCP) {since}, "
        "while the other nameservers serve all records. If it stays down, resolvers skip it; if it comes back "
        "with old data, validation may fail: then run again."
    )


def all_served(records: int, elapsed: float) -> str:
    return f"All answering nameservers serve all {plural(records, 'TXT record')} after {elapsed:.1f} s"


@dataclass(frozen=True)
class Lagging:
    """A server still waited for when the bound ran out, and what it said last about each name."""

    label: str
    pending: Sequence[str]  # the names it does not serve yet, in the order they are asked
    last: Mapping[str, Observation]  # name -> its latest answer (names not asked yet are missing)
    expected: Mapping[str, frozenset[str]]  # name -> the values it must serve
    silent: bool  # it never answered any query


def timeout(
    elapsed: float,
    lagging: Sequence[Lagging],
    ready: Sequence[str],
    zones_without_answer: Sequence[str],
    bound_option: str,
    bound: float,
) -> str:
    """Which server lacked which record when the bound ran out, and what to do about it."""
    lines: list[str] = []
    for server in lagging:
        silent = " (no answer to any query since the wait began)" if server.silent else ""
        queried = [name for name in server.pending if name in server.last]
        for name in queried:
            lines.append(f"  {server.label}: {name}: {server.last[name].describe(server.expected[name])}{silent}")
        if not queried:
            lines.append(f"  {server.label}: no answer received yet")
        elif len(server.pending) > len(queried):
            others = plural(len(server.pending) - len(queried), "other name")
            lines.append(f"  {server.label}: {others} not checked until {queried[0]} is served")
    if len(lines) > MAX_REPORT_LINES:
        lines = [*lines[:MAX_REPORT_LINES], f"  ... and {len(lines) - MAX_REPORT_LINES} more lines"]
    text = [f"Not every authoritative nameserver serves the TXT records after {elapsed:.0f} s:", *lines]
    if ready:
        text.append(f"Serving everything: {', '.join(ready)}.")
    if zones_without_answer:
        text.append(
            f"No nameserver of {', '.join(zones_without_answer)} answered at all: "
            "is outgoing DNS (UDP and TCP port 53) blocked on this host?"
        )
    text.append(f"If the nameservers are just slow, raise {bound_option} (now {seconds(bound)}).")
    return "\n".join(text)
