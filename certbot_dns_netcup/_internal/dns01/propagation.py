"""Wait until every authoritative nameserver serves every expected TXT value.

Plain DNS, for any provider: give it the records you created and the
nameservers of their zones (discovered from DNS or given by the user), and
``wait_for_propagation`` asks each nameserver address directly, without
recursion, until all of them serve all values or the bound runs out.

Query load stays small whatever the number of names: a zone reaches a server
all at once, so per (zone, server) only one name, the probe, is asked about
once per step until it shows all its values; only then are the zone's other
names confirmed on that server, and a server that serves everything of a zone
is not asked about that zone again.

Given the verdict of ``authority.probe_authority`` (asked before the records
were created), lame servers are not waited for (one warning names each), and a
server that was already silent then gets only ``silent_grace`` seconds once
the others are ready, instead of ``grace``.

Once every address looks ready, each is asked once more for every name, all at
once: a server that lost a value (one that reloaded an older copy of the zone)
puts the wait back on.  Only then does the wait return.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from . import dnsquery
from . import wait_messages as text
from .authority import AuthorityReport, Standing, lame_warning
from .dnslookup import normalize_name
from .dnsquery import DEFAULT_QUERY_TIMEOUT, Observation, ObservationKind, query_txt
from .nameservers import Nameserver, Notify, log_notify

logger = logging.getLogger(__name__)

DEFAULT_STEP = 1.0
DEFAULT_GRACE = 30.0
# A server that did not answer the authority probe either (before the records existed) is
# most likely down: once the others are ready it gets this much more, not the full grace.
DEFAULT_SILENT_GRACE = 5.0
DEFAULT_PROGRESS_INTERVAL = 30.0
# How timeout messages name the bound; callers pass their option's name (e.g. a command-line flag).
DEFAULT_BOUND_OPTION = "the bound of the wait"
# Confirming the other names of a zone once its probe is served on a server: up
# to this many queries in one step (more for long steps, about one a second).
# The zone has reached that server, so these answer at once; 25 confirms a
# 100-name certificate in 4 steps, a short burst that any nameserver shrugs off.
MIN_CONFIRM_BURST = 25
MAX_WORKERS = 8
# The final confirmation asks every ready server for every name at once: in jobs of this many names
# (one after the other within a job), on this many threads, so that a 100-name certificate takes a
# few round trips, not a hundred.
CONFIRM_CHUNK = 5
CONFIRM_WORKERS = 16


@dataclass(frozen=True)
class ExpectedRecord:
    """A TXT value that must be served at ``name`` by the nameservers of ``zone``."""

    zone: str
    name: str  # absolute, lower case, no trailing dot (normalized on creation)
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", normalize_name(self.zone))
        object.__setattr__(self, "name", normalize_name(self.name))


# ----- the wait ---------------------------------------------------------------------------------------------------
class PropagationTimeout(Exception):
    """The bound ran out before every nameserver served every value; the message says who lacks what."""

    def __init__(
        self,
        message: str,
        bound: float,
        lagging: Sequence[tuple[str, Nameserver]],
        ready_after: Optional[Mapping[tuple[str, Nameserver], float]] = None,
    ) -> None:
        super().__init__(message)
        self.bound = bound
        self.lagging = list(lagging)
        # The servers that were ready before the bound ran out, as in PropagationResult.ready_after.
        self.ready_after = dict(ready_after or {})


@dataclass
class PropagationResult:
    """How the wait went.  Times are seconds since the wait began."""

    waited: bool  # False when the bound was 0 or there was nothing to wait for
    elapsed: float = 0.0
    ready_after: dict[tuple[str, Nameserver], float] = field(default_factory=dict)  # (zone, server) -> seconds
    silent: list[tuple[str, Nameserver]] = field(default_factory=list)  # never answered, skipped after the grace
    unreachable: list[Nameserver] = field(default_factory=list)  # no route from this host, skipped
    lame: list[tuple[str, Nameserver]] = field(default_factory=list)  # do not serve the zone (probe), skipped
    queries: dict[Nameserver, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # How many confirmation rounds (every name asked again of every ready server) it took.
    confirm_rounds: int = 0
    # (zone, server, name) that a confirmation found no longer served: the wait went on for them.
    relapses: list[tuple[str, Nameserver, str]] = field(default_factory=list)
    # Seconds the silent servers were given once every other server was ready (the short silent grace
    # when all of them were silent in the authority probe too); None if that never happened.
    grace: Optional[float] = None


@dataclass(eq=False)  # identity: targets are kept in sets
class _Target:
    """One zone on one server: the names it does not serve yet, the probe first."""

    zone: str
    server: Nameserver
    expected: dict[str, frozenset[str]]  # name -> values
    pending: list[str]
    last: dict[str, Observation] = field(default_factory=dict)
    ready_after: Optional[float] = None
    skipped: bool = False
    next_due: float = 0.0
    probe_silent: bool = False  # no answer to the authority probe either

    @property
    def waiting(self) -> bool:
        return not self.skipped and self.ready_after is None


def _poll(
    target_names: list[str],
    expected: dict[str, frozenset[str]],
    server: Nameserver,
    burst: int,
    timeout: float,
    clock: Callable[[], float],
) -> list[tuple[str, Observation, float]]:
    """Query the names in order until one is not served yet or ``burst`` queries were made (runs in a worker)."""
    results: list[tuple[str, Observation, float]] = []
    for name in target_names[:burst]:
        observation = _query(name, expected[name], server, timeout)
        results.append((name, observation, clock()))
        if not observation.serves(expected[name]):
            break
    return results


def _confirm(
    target_names: list[str],
    expected: dict[str, frozenset[str]],
    server: Nameserver,
    timeout: float,
    clock: Callable[[], float],
) -> list[tuple[str, Observation, float]]:
    """Ask for every name once more, whatever the answers (runs in a worker)."""
    return [(name, _query(name, expected[name], server, timeout), clock()) for name in target_names]


def _query(name: str, expected: frozenset[str], server: Nameserver, timeout: float) -> Observation:
    try:
        observation = query_txt(name, server, timeout)
    except Exception as error:  # a bug must not kill the wait silently; it shows up in the report instead
        logger.debug("query of %s at %s failed", name, server, exc_info=True)
        observation = Observation(ObservationKind.BAD_RESPONSE, detail=repr(error))
    logger.debug("%s %s: %s", server, name, observation.describe(expected))
    return observation


class _Wait:
    """State of one call of ``wait_for_propagation``."""

    def __init__(
        self,
        records: Sequence[ExpectedRecord],
        servers: Mapping[str, Sequence[Nameserver]],
        bound: float,
        notify: Notify,
        step: float,
        grace: float,
        query_timeout: float,
        progress_interval: float,
        clock: Callable[[], float],
        bound_option: str,
        authority: Optional[AuthorityReport] = None,
        silent_grace: float = DEFAULT_SILENT_GRACE,
    ) -> None:
        self.bound, self.notify, self.step, self.grace = bound, notify, step, grace
        self.silent_grace = min(silent_grace, grace)
        self.query_timeout, self.progress_interval, self.clock = query_timeout, progress_interval, clock
        self.bound_option = bound_option
        self.authority = authority
        self.burst = max(MIN_CONFIRM_BURST, int(step))
        by_zone: dict[str, dict[str, set[str]]] = {}
        for record in records:
            by_zone.setdefault(record.zone, {}).setdefault(record.name, set()).add(record.value)
        self.record_count = len({(r.name, r.value) for r in records})
        self.multi_zone = len(by_zone) > 1
        self.targets: list[_Target] = []
        for zone in sorted(by_zone):
            zone_servers = servers.get(zone)
            if not zone_servers:
                raise ValueError(f"no nameservers given for the zone {zone}")
            expected = {name: frozenset(values) for name, values in by_zone[zone].items()}
            for server in dict.fromkeys(zone_servers):  # unique, in the given order
                self.targets.append(_Target(zone, server, expected, sorted(expected)))
        self.answered: set[Nameserver] = set()
        self.completed: dict[Nameserver, int] = {}
        self.result = PropagationResult(waited=True)
        self.reported_families: set[str] = set()
        self.lame_warnings: list[str] = []
        self.probe_unroutable: dict[Nameserver, OSError] = {}
        if authority is not None:
            self._apply_authority(authority)

    def _apply_authority(self, authority: AuthorityReport) -> None:
        """Skip the servers the probe found lame or unreachable; remember those that were silent."""
        for target in self.targets:
            entry = authority.of(target.zone, target.server)
            if entry is None:
                continue  # not probed: waited for as usual
            if entry.standing is Standing.LAME:
                target.skipped = True
                self.result.lame.append((target.zone, target.server))
                self.lame_warnings.append(lame_warning(entry))
            elif entry.standing is Standing.UNREACHABLE:
                self.probe_unroutable[target.server] = OSError(None, entry.answer)
            elif entry.standing is Standing.SILENT:
                target.probe_silent = True

    # ----- helpers
    def _label(self, target: _Target) -> str:
        return f"{target.server} for {target.zone}" if self.multi_zone else str(target.server)

    def _silent(self, target: _Target) -> bool:
        asked = target.probe_silent or self.completed.get(target.server, 0) > 0
        return asked and target.server not in self.answered

    def _grace_length(self) -> float:
        """The full grace, or the short one when every server still waited for was silent in the probe too."""
        waiting = [t for t in self.targets if t.waiting]
        return self.silent_grace if waiting and all(t.probe_silent for t in waiting) else self.grace

    def _skip_unroutable(self, servers: dict[Nameserver, OSError]) -> None:
        by_family: dict[str, list[str]] = {}
        for server, error in servers.items():
            for target in self.targets:
                if target.server == server:
                    target.skipped = True
            if server not in self.result.unreachable:
                self.result.unreachable.append(server)
            by_family.setdefault(server.family, []).append(f"{server} ({error.strerror or error})")
        for family, names in by_family.items():
            if family in self.reported_families:
                logger.debug("also no route to %s", ", ".join(names))
                continue
            self.reported_families.add(family)
            message = text.unreachable_family(family, names)
            self.result.warnings.append(message)
            self.notify(message)

    def _apply(self, target: _Target, results: list[tuple[str, Observation, float]], start: float) -> None:
        server = target.server
        for name, observation, stamp in results:
            self.result.queries[server] = self.result.queries.get(server, 0) + 1
            self.completed[server] = self.completed.get(server, 0) + 1
            if observation.kind == ObservationKind.NO_ROUTE:
                self._skip_unroutable({server: OSError(None, observation.detail)})
                return
            if observation.answered:
                self.answered.add(server)
            target.last[name] = observation
            if observation.serves(target.expected[name]):
                target.pending.remove(name)
            if not target.pending:
                target.ready_after = stamp - start
                self.result.ready_after[(target.zone, server)] = target.ready_after
                records = sum(len(v) for v in target.expected.values())
                zone = target.zone if self.multi_zone else None
                self.notify(text.server_ready(str(server), records, zone, target.ready_after))

    def _grace_applies(self) -> bool:
        """All servers that answer are ready, the rest never answered, and every zone has a ready server."""
        waiting = [t for t in self.targets if t.waiting]
        if not waiting or not all(self._silent(t) for t in waiting):
            return False
        zones = {t.zone for t in self.targets if not t.skipped}
        return all(any(t.zone == z and t.ready_after is not None for t in self.targets) for z in zones)

    def _progress(self, now: float, start: float) -> None:
        waiting = [t for t in self.targets if t.waiting]
        active = [t for t in self.targets if not t.skipped]
        missing = [
            (self._label(t), t.pending[0], t.last.get(t.pending[0]), t.expected[t.pending[0]], len(t.pending) - 1)
            for t in waiting
        ]
        self.notify(text.progress(now - start, len(active) - len(waiting), len(active), missing))

    def _timeout_error(self, now: float, start: float) -> PropagationTimeout:
        waiting = [t for t in self.targets if t.waiting]
        lagging = [text.Lagging(self._label(t), t.pending, t.last, t.expected, self._silent(t)) for t in waiting]
        ready = [self._label(t) for t in self.targets if t.ready_after is not None]
        silent_zones = sorted({t.zone for t in waiting} - {t.zone for t in self.targets if t.server in self.answered})
        message = text.timeout(now - start, lagging, ready, silent_zones, self.bound_option, self.bound)
        return PropagationTimeout(message, self.bound, [(t.zone, t.server) for t in waiting], self.result.ready_after)

    def _finish(self, now: float, start: float) -> PropagationResult:
        result = self.result
        result.elapsed = now - start
        silent = [t for t in self.targets if t.waiting]
        result.silent = [(t.zone, t.server) for t in silent]
        result.queries = {t.server: result.queries.get(t.server, 0) for t in self.targets}
        unchecked = sorted({t.zone for t in self.targets} - {t.zone for t in self.targets if not t.skipped})
        lame_zones = {zone for zone, _server in result.lame}
        for zone in unchecked:
            warning = text.zone_not_checked(zone, zone in lame_zones)
            result.warnings.append(warning)
            self.notify(warning)
        if silent:
            names = list(dict.fromkeys(self._label(t) for t in silent))
            warning = text.silent_left_out(names, all(t.probe_silent for t in silent), result.elapsed)
            result.warnings.append(warning)
            self.notify(warning)
        self.notify(text.all_served(self.record_count, result.elapsed))
        return result

    # ----- confirmation
    def _confirm_all(self, start: float) -> bool:
        """Ask every ready server for every name once more, all at once; False if one lost a value."""
        ready = [t for t in self.targets if not t.skipped and t.ready_after is not None]
        if not ready:
            return True
        jobs = [
            (index, names[i : i + CONFIRM_CHUNK])
            for index, target in enumerate(ready)
            for names in [sorted(target.expected)]
            for i in range(0, len(names), CONFIRM_CHUNK)
        ]
        results: dict[int, list[tuple[str, Observation, float]]] = {index: [] for index in range(len(ready))}
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(CONFIRM_WORKERS, len(jobs)), thread_name_prefix="dns-confirm"
        )
        try:
            futures = [
                executor.submit(
                    _confirm, chunk, ready[index].expected, ready[index].server, self.query_timeout, self.clock
                )
                for index, chunk in jobs
            ]
            # In job order (names sorted per server), whichever finishes first.
            for (index, _chunk), future in zip(jobs, futures):
                results[index].extend(future.result())
        finally:
            executor.shutdown(wait=False)  # on Ctrl-C, do not wait for queries in flight
        self.result.confirm_rounds += 1
        confirmed = True
        for index, target in enumerate(ready):  # in target order: messages do not depend on thread timing
            lost: list[str] = []
            for name, observation, _stamp in results[index]:
                self.result.queries[target.server] = self.result.queries.get(target.server, 0) + 1
                self.completed[target.server] = self.completed.get(target.server, 0) + 1
                target.last[name] = observation
                if not observation.serves(target.expected[name]):
                    lost.append(name)
                    self.result.relapses.append((target.zone, target.server, name))
            if lost:
                confirmed = False
                target.pending = lost
                target.ready_after = None
                target.next_due = self.clock() + self.step
                self.result.ready_after.pop((target.zone, target.server), None)
                seen = target.last[lost[0]].describe(target.expected[lost[0]])
                self.notify(text.lost_again(self._label(target), lost[0], len(lost) - 1, seen))
        return confirmed

    # ----- the loop
    def run(self) -> PropagationResult:
        start = self.clock()
        deadline = start + self.bound
        for warning in self.lame_warnings:
            self.result.warnings.append(warning)
            self.notify(warning)
        unroutable = dict(self.probe_unroutable)
        for server in dict.fromkeys(t.server for t in self.targets if not t.skipped):
            if server in unroutable:
                continue
            error = dnsquery.route_error(server)
            if error is not None:
                unroutable[server] = error
        if unroutable:
            self._skip_unroutable(unroutable)
        active = [t for t in self.targets if not t.skipped]
        self.notify(text.waiting(len({t.server for t in active}), self.record_count, self.bound))
        next_progress = start + self.progress_interval
        grace_until: Optional[float] = None
        grace_spent = False  # once the silent servers had their grace, a later confirmation does not renew it
        in_flight: dict[concurrent.futures.Future[list[tuple[str, Observation, float]]], _Target] = {}
        workers = max(1, min(MAX_WORKERS, len(active)))
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dns-propagation")
        try:
            while True:
                now = self.clock()
                settled = not any(t.waiting for t in self.targets)
                if not settled and self._grace_applies():
                    if grace_until is None:
                        self.result.grace = self._grace_length()
                        grace_until = min(now + self.result.grace, deadline)
                        logger.debug("only silent nameservers left; giving them until %.1f s", grace_until - start)
                    settled = grace_spent or now >= grace_until
                    grace_spent = settled
                elif not settled:
                    grace_until = None
                if settled:
                    if self._confirm_all(start):
                        return self._finish(self.clock(), start)
                    grace_until = None
                    continue
                if now >= deadline:
                    raise self._timeout_error(now, start)
                if now >= next_progress:
                    self._progress(now, start)
                    next_progress = now + self.progress_interval
                busy = set(in_flight.values())
                for target in self.targets:
                    if target.waiting and target not in busy and target.next_due <= now:
                        target.next_due = now + self.step
                        future = executor.submit(
                            _poll,
                            list(target.pending),
                            target.expected,
                            target.server,
                            self.burst,
                            self.query_timeout,
                            self.clock,
                        )
                        in_flight[future] = target
                idle_due = [t.next_due for t in self.targets if t.waiting and t not in in_flight.values()]
                wake = min([deadline, next_progress, *idle_due, *([grace_until] if grace_until is not None else [])])
                timeout = max(0.0, wake - self.clock())
                if in_flight:
                    concurrent.futures.wait(in_flight, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)
                else:
                    time.sleep(timeout)
                done = [f for f in in_flight if f.done()]
                # Apply in target order, so that notifications do not depend on thread timing within a wake-up.
                for future in sorted(done, key=lambda f: self.targets.index(in_flight[f])):
                    target = in_flight.pop(future)
                    if not target.skipped:
                        self._apply(target, future.result(), start)
        finally:
            # Do not wait for queries in flight (at most query_timeout) on a timeout or Ctrl-C.
            executor.shutdown(wait=False)


def wait_for_propagation(
    records: Sequence[ExpectedRecord],
    servers: Mapping[str, Sequence[Nameserver]],
    bound: float,
    notify: Notify = log_notify,
    *,
    step: float = DEFAULT_STEP,
    grace: float = DEFAULT_GRACE,
    query_timeout: float = DEFAULT_QUERY_TIMEOUT,
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    bound_option: str = DEFAULT_BOUND_OPTION,
    authority: Optional[AuthorityReport] = None,
    silent_grace: float = DEFAULT_SILENT_GRACE,
) -> PropagationResult:
    """Return once every address in ``servers[zone]`` serves every value of ``records`` in that zone.

    ``servers`` maps each zone of ``records`` to its nameservers.  Raises ``PropagationTimeout`` after
    ``bound`` seconds (checked every ``step``); ``bound`` 0 returns at once without querying.  Servers
    that never answer are given ``grace`` seconds once all others are ready, then skipped with a
    warning.  ``authority`` is the verdict of ``authority.probe_authority`` on the same servers, taken
    before the records were created: lame servers are then skipped with a warning, unreachable ones
    are not tried again, and those already silent get ``silent_grace`` instead of ``grace``.
    ``bound_option`` is how the timeout message tells the user to raise the bound.  Every address is
    asked for every name once more before the wait returns (see the module's description).  Progress
    goes to ``notify``; ``KeyboardInterrupt`` passes through.
    """
    if bound < 0 or step <= 0:
        raise ValueError("the bound must not be negative and the step must be positive")
    if bound == 0 or not records:
        return PropagationResult(waited=False)
    return _Wait(
        records,
        servers,
        bound,
        notify,
        step,
        grace,
        query_timeout,
        progress_interval,
        clock,
        bound_option,
        authority,
        silent_grace,
    ).run()
