"""Records that outlive their run: interrupts held around creating and removing records, every copy of a
record removed, and the on-disk journal that lets a later run remove what a killed run left behind.

In-process (the plugin driven through Certbot's interface against the sandbox); the same cases with real
Certbot processes that are interrupted or killed are in tests/test_journal_e2e.py.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certbot import errors

from certbot_dns_netcup._internal import journal as journal_module
from certbot_dns_netcup._internal.authenticator import Authenticator
from certbot_dns_netcup._internal.cli import main as cli_main
from certbot_dns_netcup._internal.interrupts import interrupts_deferred
from netcup_sandbox.faults import Fault
from netcup_sandbox.plugin_harness import (
    RecordingDisplay,
    dns01_achall,
    install_display,
    make_authenticator,
    sandbox_resolver,
)
from netcup_sandbox.sandbox import Sandbox, servers_with_lags, wait_until
from tests.reliability_support import (
    IDN_ZONE,
    FastHttp,
    SessionIds,
    ZoneSnapshot,
    assert_no_secret,
    sandbox_for_plugin,
    secrets_of,
)

pytestmark = pytest.mark.timeout(120)

CCP_ZONE = "example.test"
SECOND_CCP_ZONE = "second.test"
REST_ZONE = "cloud.test"


@pytest.fixture
def display() -> RecordingDisplay:
    return install_display()


@pytest.fixture
def box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, display: RecordingDisplay
) -> Iterator[Sandbox]:
    caplog.set_level(logging.DEBUG)
    FastHttp().install(monkeypatch)
    with sandbox_for_plugin(str(tmp_path / "sandbox"), monkeypatch, servers=servers_with_lags([0, 0, 0])) as sandbox:
        yield sandbox


def plugin(box: Sandbox, work_dir: Path, *, ccp: bool = True, rest: bool = True) -> Authenticator:
    """The plugin as Certbot builds it, with Certbot's --work-dir (the harness's config has none)."""
    credentials = box.write_credentials(ccp=ccp, rest=rest)
    authenticator = make_authenticator(credentials, propagation_seconds=0, nameservers=box.nameservers_option)
    authenticator.config.work_dir = str(work_dir)
    return authenticator


def journal_files(work_dir: Path) -> list[Path]:
    directory = Path(journal_module.journal_dir(str(work_dir)))
    return sorted(directory.glob("*.journal")) if directory.is_dir() else []


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def value_of(achall: Any) -> str:
    return str(achall.validation(achall.account_key))


def ccp_operations(box: Sandbox) -> list[tuple[str, Any, Any]]:
    return [(c.operation, c.domain, c.outcome) for c in box.ccp_api.log.calls() if c.operation != "login"]


# ===== the shared interrupt helper =====================================================================
def test_a_sigint_during_the_step_is_raised_as_keyboardinterrupt_once_the_step_is_done() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
            steps.append("went on after the signal")
            signal.raise_signal(signal.SIGINT)  # a second Ctrl-C: still one KeyboardInterrupt, afterwards
            steps.append("finished")
    assert steps == ["went on after the signal", "finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_reach_the_previous_handler_once_the_step_is_done(signum: int) -> None:
    delivered: list[str] = []
    told: list[int] = []

    def previous(number: int, frame: Any) -> None:
        delivered.append(f"handler got {number}")

    old = signal.signal(signum, previous)
    try:
        with interrupts_deferred(told.append):
            signal.raise_signal(signum)
            delivered.append("step finished")
        assert delivered == ["step finished", f"handler got {signum}"]
        assert told == [signum]
        assert signal.getsignal(signum) is previous
    finally:
        signal.signal(signum, old)


def test_outside_the_main_thread_the_step_runs_unprotected() -> None:
    seen: list[Any] = []

    def step() -> None:
        with interrupts_deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=step)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


# ===== the journal, written before the add ==============================================================
@pytest.mark.parametrize("zone", [CCP_ZONE, REST_ZONE], ids=["ccp", "rest"])
def test_the_record_is_journaled_before_the_add_is_sent_and_crossed_out_once_removed(
    box: Sandbox, tmp_path: Path, zone: str
) -> None:
    work_dir = tmp_path / "work"
    release = threading.Event()
    api, adding = (
        (box.ccp_api, {"action": "updateDnsRecords"}) if zone == CCP_ZONE else (box.rest_api, {"method": "POST"})
    )
    api.faults.script.add(Fault.hang(60, release=release).only(**adding))
    authenticator = plugin(box, work_dir, ccp=zone == CCP_ZONE, rest=zone == REST_ZONE)
    achalls = [dns01_achall(zone)]
    outcome: list[BaseException] = []

    def perform() -> None:
        try:
            authenticator.perform(achalls)
        except BaseException as error:  # reported to the test thread
            outcome.append(error)

    performer = threading.Thread(target=perform)
    performer.start()
    try:
        wait_until(
            lambda: outcome or any(c.outcome == "hang" for c in api.log.calls()), timeout=30, message="the add is held"
        )
        assert outcome == []
        [path] = journal_files(work_dir)
        header, adding_line = journal_lines(path)
        assert header["journal"] == 1 and header["pid"] == os.getpid()
        assert {k: adding_line[k] for k in ("event", "api", "zone", "name", "value")} == {
            "event": "adding",
            "api": "ccp" if zone == CCP_ZONE else "rest",
            "zone": zone,
            "name": f"_acme-challenge.{zone}",
            "value": value_of(achalls[0]),
        }
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        assert_no_secret([path.read_text(encoding="utf-8")], secrets_of(box))
    finally:
        release.set()
        performer.join(timeout=60)
    assert outcome == []
    authenticator.cleanup(achalls)
    assert journal_files(work_dir) == []  # every record gone: the run's journal with it
    assert box.state.all_txt_records() == []


# ===== duplicates =========================================================================================
def test_a_retried_add_that_netcup_carried_out_twice_leaves_two_copies_and_cleanup_removes_both(
    box: Sandbox, tmp_path: Path
) -> None:
    before = ZoneSnapshot.take(box)
    box.ccp_api.faults.duplicate_adds = True  # netcup may or may not refuse an exact duplicate: here it does not
    box.ccp_api.faults.script.add(Fault.lost_answer().only(action="updateDnsRecords"))
    authenticator = plugin(box, tmp_path / "work", rest=False)
    achalls = [dns01_achall(CCP_ZONE), dns01_achall(f"*.{CCP_ZONE}")]
    authenticator.perform(achalls)
    owner = f"_acme-challenge.{CCP_ZONE}"
    values = sorted(value_of(a) for a in achalls)
    assert sorted(box.state.txt_values(owner)) == sorted(values * 2)  # each value twice
    authenticator.cleanup(achalls)
    assert ccp_operations(box) == [
        ("infoDnsZone", CCP_ZONE, 2000),
        ("updateDnsRecords", CCP_ZONE, 2000),  # carried out ...
        ("updateDnsRecords", CCP_ZONE, "reset"),  # ... but its answer was lost
        ("updateDnsRecords", CCP_ZONE, 2000),  # the retry: carried out again
        ("infoDnsRecords", CCP_ZONE, 2000),  # cleanup lists the zone
        ("updateDnsRecords", CCP_ZONE, 2000),  # and deletes every copy, in one call
        ("logout", None, 2000),
    ]
    after = ZoneSnapshot.take(box)
    assert after.added_since(before) == set() and after.removed_since(before) == set()
    assert journal_files(tmp_path / "work") == []


def test_cleanup_removes_every_copy_and_leaves_other_values_at_the_same_name(box: Sandbox, tmp_path: Path) -> None:
    authenticator = plugin(box, tmp_path / "work", rest=False)
    achalls = [dns01_achall(CCP_ZONE)]
    authenticator.perform(achalls)
    owner_hostname = "_acme-challenge"
    box.state.add_record(
        CCP_ZONE, owner_hostname, "TXT", value_of(achalls[0])
    )  # another copy of ours, as a retried add leaves
    box.state.add_record(CCP_ZONE, owner_hostname, "TXT", "someone-elses-value")
    authenticator.cleanup(achalls)
    assert box.state.txt_values(f"_acme-challenge.{CCP_ZONE}") == ["someone-elses-value"]


# ===== a later run removes what a dead run left ==========================================================
def die_without_cleanup(authenticator: Authenticator) -> None:
    """What the kernel does to a SIGKILLed run: its files are closed (the journal's lock goes), nothing else."""
    journal = authenticator._run.journal if authenticator._run is not None else None
    assert journal is not None and journal._fd is not None
    os.close(journal._fd)
    journal._fd = None


def test_the_next_run_removes_what_a_dead_run_left_and_keeps_a_live_runs_records(
    box: Sandbox, tmp_path: Path, display: RecordingDisplay, caplog: pytest.LogCaptureFixture
) -> None:
    work_dir = tmp_path / "work"
    live = plugin(box, work_dir, rest=False)
    live_achalls = [dns01_achall(SECOND_CCP_ZONE)]
    live.perform(live_achalls)  # in the middle of its run (its wait) until the end: its journal stays locked
    dead = plugin(box, work_dir, rest=False)
    dead_achalls = [dns01_achall(CCP_ZONE), dns01_achall(f"*.{CCP_ZONE}")]
    dead.perform(dead_achalls)
    die_without_cleanup(dead)
    dead_rest = plugin(box, work_dir, ccp=False)
    dead_rest_achalls = [dns01_achall(REST_ZONE)]
    dead_rest.perform(dead_rest_achalls)
    die_without_cleanup(dead_rest)
    assert len(journal_files(work_dir)) == 3
    box.ccp_api.log.clear()
    display.lines.clear()
    caplog.clear()

    # The next run, for another domain, has only CCP credentials.
    following = plugin(box, work_dir, rest=False)
    achalls = [dns01_achall(IDN_ZONE)]
    following.perform(achalls)
    following.cleanup(achalls)

    assert box.state.txt_values(f"_acme-challenge.{CCP_ZONE}") == []  # the dead run's records: removed
    assert box.state.txt_values(f"_acme-challenge.{SECOND_CCP_ZONE}") == [value_of(live_achalls[0])]  # kept
    assert box.state.txt_values(f"_acme-challenge.{REST_ZONE}") == [value_of(dead_rest_achalls[0])]  # no key
    removed_lines = [line for line in display.lines if "left behind by an earlier run" in line]
    assert sorted(removed_lines) == sorted(
        f'Removed _acme-challenge.{CCP_ZONE} TXT "{value_of(a)}" in zone {CCP_ZONE} (CCP API), left behind by an '
        f"earlier run ({dead._run.journal.run_id}) that ended early"  # type: ignore[union-attr]
        for a in dead_achalls
    )
    rest_warnings = [r.getMessage() for r in caplog.records if "has no dns_netcup_api_v1_key" in r.getMessage()]
    assert len(rest_warnings) == 1 and "1 TXT record(s)" in rest_warnings[0]
    # The leftovers went before the new run's own work (its zone lookup and add).
    operations = [(c.operation, c.domain) for c in box.ccp_api.log.calls() if c.operation != "login"]
    assert operations[:3] == [
        ("infoDnsRecords", CCP_ZONE),
        ("updateDnsRecords", CCP_ZONE),
        ("infoDnsZone", IDN_ZONE),
    ]
    # The dead CCP run's journal is gone; the live run's and the REST leftovers' stay.
    assert len(journal_files(work_dir)) == 2

    # A run with the REST key removes the rest; the live run cleans up after itself.
    display.lines.clear()
    rest_run = plugin(box, work_dir, ccp=False)
    rest_achalls = [dns01_achall(f"www.{REST_ZONE}")]
    rest_run.perform(rest_achalls)
    rest_run.cleanup(rest_achalls)
    assert [line for line in display.lines if "left behind" in line] == [
        f'Removed _acme-challenge.{REST_ZONE} TXT "{value_of(dead_rest_achalls[0])}" in zone {REST_ZONE} '
        f"(REST API), left behind by an earlier run ({dead_rest._run.journal.run_id}) that ended early"  # type: ignore[union-attr]
    ]
    live.cleanup(live_achalls)
    assert box.state.all_txt_records() == []
    assert journal_files(work_dir) == []


def test_an_unwritable_journal_is_a_warning_and_the_run_succeeds(
    box: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "dns-netcup").write_text("in the way\n")  # not a directory: even root cannot write there
    authenticator = plugin(box, work_dir, rest=False)
    achalls = [dns01_achall(CCP_ZONE)]
    authenticator.perform(achalls)
    authenticator.cleanup(achalls)
    assert box.state.all_txt_records() == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "Could not use the dns-netcup journal" in w]) == 1
    assert any(str(work_dir / "dns-netcup" / "journal") in w and "writable directory" in w for w in warnings)


# ===== certbot-dns-netcup check ==========================================================================
def test_check_lists_the_journals_records_and_challenge_values_no_journal_explains(
    box: Sandbox, tmp_path: Path
) -> None:
    work_dir = tmp_path / "work"
    dead = plugin(box, work_dir, rest=False)
    dead_achalls = [dns01_achall(CCP_ZONE)]
    dead.perform(dead_achalls)
    die_without_cleanup(dead)
    box.state.add_record(CCP_ZONE, "_acme-challenge.www", "TXT", "stray-value-from-elsewhere")
    credentials = box.write_credentials(rest=False)
    out, err = io.StringIO(), io.StringIO()
    argv = ["check", CCP_ZONE, "--credentials", credentials, "--nameservers", box.nameservers_option]
    status = cli_main([*argv, "--work-dir", str(work_dir)], lambda: sandbox_resolver(box), stdout=out, stderr=err)
    text = out.getvalue()
    assert f"Records left behind (journals in {journal_module.journal_dir(str(work_dir))})" in text, text
    dead_value = value_of(dead_achalls[0])
    assert (
        f'_acme-challenge.{CCP_ZONE} TXT "{dead_value}" in {CCP_ZONE} (CCP API), run {dead._run.journal.run_id}: '  # type: ignore[union-attr]
        "ended early"
    ) in text
    assert f'_acme-challenge.www.{CCP_ZONE} TXT "stray-value-from-elsewhere"' in text
    assert f'TXT "{dead_value}"' not in text.split("no journal on this host explains")[1]
    assert status in (0, 1), err.getvalue()
    # JSON holds the same.
    out = io.StringIO()
    cli_main([*argv, "--work-dir", str(work_dir), "--json"], lambda: sandbox_resolver(box), stdout=out, stderr=err)
    leftovers = json.loads(out.getvalue())["leftovers"]
    assert [(n["name"], n["value"], n["run_state"]) for n in leftovers["journaled"]] == [
        (f"_acme-challenge.{CCP_ZONE}", dead_value, "ended early")
    ]
    assert leftovers["unexplained"] == [f'_acme-challenge.www.{CCP_ZONE} TXT "stray-value-from-elsewhere"']
    # The check changed nothing: the dead run's record and journal are still there.
    assert box.state.txt_values(f"_acme-challenge.{CCP_ZONE}") == [dead_value]
    assert len(journal_files(work_dir)) == 1


def test_check_says_it_cannot_list_a_rest_zone(box: Sandbox, tmp_path: Path) -> None:
    credentials = box.write_credentials(ccp=False)
    out, err = io.StringIO(), io.StringIO()
    argv = ["check", REST_ZONE, "--credentials", credentials, "--nameservers", box.nameservers_option]
    cli_main([*argv, "--work-dir", str(tmp_path / "work")], lambda: sandbox_resolver(box), stdout=out, stderr=err)
    assert "none in the journals" in out.getvalue()
    assert f"netcup's REST API has no way to list the records of {REST_ZONE}" in out.getvalue()


def test_secrets_never_reach_the_journal(box: Sandbox, tmp_path: Path) -> None:
    sessions = SessionIds(box)
    work_dir = tmp_path / "work"
    dead = plugin(box, work_dir)
    achalls = [dns01_achall(CCP_ZONE), dns01_achall(REST_ZONE)]
    dead.perform(achalls)
    die_without_cleanup(dead)
    [path] = journal_files(work_dir)
    assert_no_secret([path.read_text(encoding="utf-8")], secrets_of(box, sessions))


def test_records_a_failed_cleanup_could_not_remove_are_removed_by_the_next_run(
    box: Sandbox, tmp_path: Path, display: RecordingDisplay
) -> None:
    work_dir = tmp_path / "work"
    first = plugin(box, work_dir, rest=False)
    achalls = [dns01_achall(CCP_ZONE)]
    first.perform(achalls)
    box.ccp_api.faults.script.add(
        Fault.ccp_error(4013, "Validation Error.", "Something went wrong.").only(action="updateDnsRecords")
    )
    with pytest.raises(errors.PluginError, match="remove these by hand"):
        first.cleanup(achalls)
    assert box.state.txt_values(f"_acme-challenge.{CCP_ZONE}") == [value_of(achalls[0])]
    assert len(journal_files(work_dir)) == 1  # kept, and no longer locked: the run is over
    following = plugin(box, work_dir, rest=False)
    next_achalls = [dns01_achall(SECOND_CCP_ZONE)]
    following.perform(next_achalls)
    following.cleanup(next_achalls)
    assert any(f'TXT "{value_of(achalls[0])}"' in line and "left behind" in line for line in display.lines)
    assert box.state.all_txt_records() == []
    assert journal_files(work_dir) == []


def test_a_retried_add_that_netcup_refuses_as_a_duplicate_still_counts_and_is_removed(
    box: Sandbox, tmp_path: Path
) -> None:
    before = ZoneSnapshot.take(box)
    box.ccp_api.faults.refuse_duplicates = True  # the other possibility: netcup refuses the exact duplicate
    box.ccp_api.faults.script.add(Fault.lost_answer().only(action="updateDnsRecords"))
    authenticator = plugin(box, tmp_path / "work", rest=False)
    achalls = [dns01_achall(CCP_ZONE)]
    authenticator.perform(achalls)  # the record exists: the refusal of the retry is no failure
    assert box.state.txt_values(f"_acme-challenge.{CCP_ZONE}") == [value_of(achalls[0])]
    authenticator.cleanup(achalls)
    assert ccp_operations(box) == [
        ("infoDnsZone", CCP_ZONE, 2000),
        ("updateDnsRecords", CCP_ZONE, 2000),  # carried out, answer lost
        ("updateDnsRecords", CCP_ZONE, "reset"),
        ("updateDnsRecords", CCP_ZONE, 4013),  # the retry, refused as a duplicate
        ("infoDnsRecords", CCP_ZONE, 2000),  # so the plugin looks: the record is there
        ("infoDnsRecords", CCP_ZONE, 2000),  # cleanup
        ("updateDnsRecords", CCP_ZONE, 2000),
        ("logout", None, 2000),
    ]
    after = ZoneSnapshot.take(box)
    assert after.added_since(before) == set() and after.removed_since(before) == set()


def test_a_journal_file_a_run_never_finished_creating_is_removed(box: Sandbox, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    directory = Path(journal_module.journal_dir(str(work_dir)))
    directory.mkdir(parents=True)
    unfinished = directory / ".20261202T000000Z-1-abcdef.new"  # killed between creating and naming it
    unfinished.write_text('{"journal": 1, "run": "20261202T000000Z-1-abcdef"}\n', encoding="utf-8")
    authenticator = plugin(box, work_dir, rest=False)
    achalls = [dns01_achall(CCP_ZONE)]
    authenticator.perform(achalls)
    authenticator.cleanup(achalls)
    assert sorted(p.name for p in directory.iterdir()) == []
