"""One alert per finding, as each SIEM's scheduler runs the shipped detections.

A simulated day (the simulator's background, every attack scenario played twice, each event
reaching the SIEM up to 15 minutes after its own time: DocuSign ingests up to 5 minutes late, then
the connector's poll and the shipper's batch) is replayed through the schedule each SIEM gets
from the files we ship: Splunk's `savedsearches.conf` in the app (cron, dispatch window,
throttling) and Elastic's `detection-rules.ndjson` (interval, `from`, alert suppression). At
every run a rule sees the events that have arrived whose own time is inside its look-back. Its
query: for the four counting rules, the counting the shipped SPL or ES|QL text does (its window,
sliding with `streamstats time_window` or in `date_trunc` buckets, hopping when it appends a
second bucket; its count or distinct count, group-by and threshold) over the events its Sigma
base rule selects; for the others, the rule's pySigma SQLite conversion (the Sigma proof's
machinery). Each result row is an alert unless throttled (Splunk: `alert.suppress.fields` for
`alert.suppress.period`) or suppressed (Elastic: `alert_suppression.group_by` for its duration;
a non-aggregating ES|QL rule also never alerts twice on one document). Counted: exactly one
alert per finding, none on a quiet day; the silent-collector rule fires once for a long outage
and not for three quiet hours. The scenarios start at odd minutes, so bursts cross bucket edges.

Read, not measured: the schedulers themselves (no Splunk or Kibana runs here; their behaviour is
modelled from their documentation), and the single-event and sequence queries, which run in their
Sigma form. Changing a shipped setting or a counting query changes what this replays.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import yaml

pytest.importorskip("sigma.backends.sqlite", reason="pip install -e '.[detections]'")

from sigma.backends.sqlite import sqliteBackend  # noqa: E402
from sigma.collection import SigmaCollection  # noqa: E402
from sigma_sqlite import EXPECTED, REPO, RULES, Events, flatten, queries  # noqa: E402

from detections import build  # noqa: E402
from docusign_input.formats.ecs import ecs_field  # noqa: E402
from docusign_input.simulator import Simulator  # noqa: E402
from docusign_input.simulator.scenarios import scenario_events  # noqa: E402
from docusign_input.timestamps import parse_event_time  # noqa: E402

DAY_END = 1_796_083_200.0  # 2026-12-01T00:00:00Z
DAY_START = DAY_END - 86_400
DAY_EVENTS = 20_000
MAX_LATE_S = 15 * 60  # event time to searchable: DocuSign 5 min, then poll, shipper, indexing
SILENT = "docusign_silent_collector"
MINUTE = 60.0


@dataclass(frozen=True)
class Counting:
    """What a counting rule's shipped query counts: events (or distinct values of a field) per
    group over a window that slides with each event or falls in buckets (hopping ones start
    ``hop_s`` apart as well)."""

    window_s: float
    sliding: bool
    hop_s: Optional[float]
    distinct: Optional[str]  # raw field counted distinct; None: events
    group: Tuple[str, ...]  # raw fields
    threshold: int

    def sql(self, base: str) -> str:
        """The counting over ``base`` (a SELECT over `logs`, whose `_t` is the event time)."""
        measure = f'count(DISTINCT b."{self.distinct}")' if self.distinct else "count(*)"
        groups = ", ".join(f'"{g}"' for g in self.group)
        if self.sliding:
            same = " AND ".join(f'b."{g}" = a."{g}"' for g in self.group)
            return (
                f"WITH base AS ({base}) SELECT DISTINCT {groups} FROM base a WHERE "
                f"(SELECT {measure} FROM base b WHERE {same} "
                f"AND b._t BETWEEN a._t - {self.window_s} AND a._t) >= {self.threshold}"
            )
        w = self.window_s
        buckets = f"SELECT *, CAST(_t / {w} AS INT) * {w} AS bucket FROM base"
        if self.hop_s:
            h = self.hop_s
            buckets += f" UNION ALL SELECT *, CAST((_t + {h}) / {w} AS INT) * {w} - {h} FROM base"
        return (
            f"WITH base AS ({base}), b AS ({buckets}) SELECT bucket, {groups} FROM b "
            f"GROUP BY bucket, {groups} HAVING {measure} >= {self.threshold}"
        )


def base_sql(rule: str) -> str:
    """The events a counting rule counts: its Sigma base rule (the file's first document) as
    pySigma's SQLite query."""
    first = next(yaml.safe_load_all((REPO / "detections/sigma" / f"{rule}.yml").read_text()))
    return sqliteBackend().convert(SigmaCollection.from_yaml(yaml.safe_dump(first)))[0]


def splunk_counting(spl: str) -> Optional[Counting]:
    """The counting of a shipped SPL query (`streamstats time_window` or `bin` + `stats`)."""
    sliding = re.search(
        r"streamstats time_window=(\d+)m (count|dc\(([\w.]+)\)) as \w+ by ([\w. ]+)", spl
    )
    bucketed = re.search(
        r"bin _time span=(\d+)m\s*\| stats (count|dc\(([\w.]+)\)) as \w+ by _time ([\w. ]+)", spl
    )
    found = sliding or bucketed
    if not found:
        return None
    threshold = re.search(r"\| search \w+ >= (\d+)", spl)
    assert threshold, spl
    return Counting(
        window_s=int(found[1]) * MINUTE,
        sliding=bool(sliding),
        hop_s=None,
        distinct=found[3],
        group=tuple(found[4].split()),
        threshold=int(threshold[1]),
    )


def esql_counting(esql: str, raw_of: Dict[str, str]) -> Optional[Counting]:
    """The counting of a shipped ES|QL query (`date_trunc` buckets, hopping with `mv_append`)."""
    bucket = re.search(r"date_trunc\((\d+)minutes, @timestamp\)", esql)
    if not bucket:
        return None
    hop = re.search(r"mv_append\(.*date_trunc\(\d+minutes, @timestamp \+ (\d+)minutes\)", esql)
    stats = re.search(
        r"stats \w+=(count\(\)|count_distinct\(([\w.]+)\)) by timebucket((?:, [\w.]+)+)", esql
    )
    threshold = re.search(r"\| where \w+ >= (\d+)", esql)
    assert stats and threshold, esql
    return Counting(
        window_s=int(bucket[1]) * MINUTE,
        sliding=False,
        hop_s=int(hop[1]) * MINUTE if hop else None,
        distinct=raw_of[stats[2]] if stats[2] else None,
        group=tuple(raw_of[f] for f in stats[3].strip(", ").split(", ")),
        threshold=int(threshold[1]),
    )


@dataclass(frozen=True)
class Schedule:
    """How one SIEM runs one rule, as read from the shipped file."""

    rule: str
    query: str  # what runs over `logs` at each run (SILENT: the absence check)
    counting: Optional[Counting]  # for the counting rules, what their shipped query counts
    aggregating: bool  # rows are groups, holding the group-by fields only
    interval_s: float
    look_back_s: float
    snap_to_minute: bool  # Splunk's `-30m@m`
    suppress_fields: Tuple[str, ...]  # raw field names; () with a period: the whole alert
    suppress_s: float
    dedupe_documents: bool  # Elastic: a non-aggregating ES|QL rule alerts once per document


# -- reading the shipped files ---------------------------------------------------------------


def _rule_ids() -> Dict[str, str]:
    """Sigma id -> rule stem, the silent collector included."""
    ids = {list(yaml.safe_load_all(p.read_text()))[-1]["id"]: p.stem for p in RULES}
    manual = yaml.safe_load((REPO / "detections/manual/docusign_silent_collector.yml").read_text())
    return {**ids, manual["id"]: SILENT}


def _meta(rule: str) -> Dict[str, Any]:
    path = REPO / "detections/sigma" / f"{rule}.yml"
    return list(yaml.safe_load_all(path.read_text()))[-1] if path.exists() else {}


def _minutes(text: str) -> float:
    """`30m`, `4h`, `90s` -> seconds."""
    match = re.fullmatch(r"(\d+)([smhd])", text)
    assert match, text
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


def _cron_interval(cron: str) -> float:
    match = re.fullmatch(r"\*/(\d+) \* \* \* \*", cron)
    assert match, f"the replay reads `*/N * * * *` schedules only: {cron}"
    return int(match[1]) * MINUTE


def splunk_conf(text: str) -> Dict[str, Dict[str, str]]:
    """Stanza -> settings, continuation lines joined; `# sigma id X` kept as `sigma_id`."""
    stanzas: Dict[str, Dict[str, str]] = {}
    current: Dict[str, str] | None = None
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("["):
            current = stanzas.setdefault(line.strip("[]"), {})
        elif current is not None and line.startswith("# sigma id "):
            current["sigma_id"] = line.split()[-1]
        elif current is not None and " = " in line and not line.startswith("#"):
            key, value = line.split(" = ", 1)
            while value.endswith("\\"):
                value = value[:-1] + "\n" + next(lines)
            current[key] = value
    return stanzas


def _single(rule: str, sigma: Dict[str, str]) -> str:
    return SILENT if rule == SILENT else sigma[rule]


def splunk_schedules(text: str) -> Dict[str, Schedule]:
    ids, out, sigma = _rule_ids(), {}, queries()
    for name, conf in splunk_conf(text).items():
        rule = ids[conf["sigma_id"]]
        assert conf["enableSched"] == "1" and conf["dispatch.latest_time"] == "now", name
        earliest = re.fullmatch(r"-(\d+[smhd])(@m)?", conf["dispatch.earliest_time"])
        assert earliest, conf["dispatch.earliest_time"]
        inline = re.search(r"earliest=-(\d+[smhd])", conf["search"])  # overrides the dispatch
        throttled = conf.get("alert.suppress") == "1"
        fields = conf.get("alert.suppress.fields", "")
        if throttled and fields:  # per-result throttling needs one alert per result
            assert conf.get("alert.digest_mode") == "0", name
        counting = splunk_counting(conf["search"])
        out[rule] = Schedule(
            rule=rule,
            query=counting.sql(base_sql(rule)) if counting else _single(rule, sigma),
            counting=counting,
            aggregating=bool(counting) or "correlation" in _meta(rule),
            interval_s=_cron_interval(conf["cron_schedule"]),
            look_back_s=_minutes((inline or earliest)[1]),
            snap_to_minute=bool(earliest[2]) and not inline,
            suppress_fields=tuple(f for f in fields.split(",") if f),
            suppress_s=_minutes(conf["alert.suppress.period"]) if throttled else 0.0,
            dedupe_documents=False,
        )
    return out


def elastic_schedules(text: str, raw_fields: Sequence[str]) -> Dict[str, Schedule]:
    ids, out, sigma = _rule_ids(), {}, queries()
    raw_of = {ecs_field(raw): raw for raw in raw_fields}
    for line in text.splitlines():
        rule_json = json.loads(line)
        rule = ids[rule_json["rule_id"]]
        suppression = rule_json.get("alert_suppression") or {}
        duration = suppression.get("duration") or {"value": 0, "unit": "s"}
        group_by = suppression.get("group_by", [])
        query = rule_json["query"]
        aggregating = rule_json["type"] != "esql" or "| stats" in query
        fields = tuple(raw_of.get(f, f) for f in group_by)
        if rule == SILENT:  # the absence rule's only column is its count
            assert fields in ((), ("events",)), fields
            fields = ()
        from_match = re.fullmatch(r"now-(\d+[smhd])", rule_json["from"])
        assert from_match, rule_json["from"]
        look_back = _minutes(from_match[1])
        own = re.search(r"now\(\) - (\d+) hours", query)  # the query's own filter, inside `from`
        if own:
            look_back = min(look_back, int(own[1]) * 3600)
        counting = esql_counting(query, raw_of) if rule_json["type"] == "esql" else None
        out[rule] = Schedule(
            rule=rule,
            query=counting.sql(base_sql(rule)) if counting else _single(rule, sigma),
            counting=counting,
            aggregating=aggregating and rule != SILENT,
            interval_s=_minutes(rule_json["interval"]),
            look_back_s=look_back,
            snap_to_minute=False,
            suppress_fields=fields,
            suppress_s=_minutes(f"{duration['value']}{duration['unit']}") if suppression else 0,
            dedupe_documents=not aggregating and "metadata _id" in query,
        )
    return out


# -- the replay ------------------------------------------------------------------------------


@dataclass
class Day:
    """Events as they reach the SIEM: each with the time it becomes searchable."""

    events: List[Dict[str, Any]]
    arrival: List[float]
    findings: List[Tuple[str, float]]  # (rule expected to fire, start of the scenario)


def _flat(event: Dict[str, Any]) -> Iterator[Tuple[str, Any]]:
    return flatten(event)


def _epoch(stamp: str) -> float:
    return parse_event_time(stamp).timestamp()


def make_day(*, scenarios: bool, gaps: Sequence[Tuple[float, float]] = ()) -> Day:
    """The background of one simulated day (less the events whose time falls in a gap, from
    the day's start in hours), with or without every scenario played twice."""
    sim = Simulator(seed=11, clock=lambda: DAY_END)
    sim.seed_backlog(DAY_EVENTS, days=1)
    events = [json.loads(raw) for raw in sim.events()]
    findings = []
    if scenarios:
        # odd minutes: the password spray of the first round crosses a 10-minute edge 8 + 7
        for round_, first_s in enumerate((3600 + 7 * MINUTE + 13, 12 * 3600 + 3 * MINUTE + 29)):
            for k, name in enumerate(sorted(EXPECTED)):
                start = DAY_START + first_s + k * 40 * MINUTE
                played = scenario_events(
                    name, seed=11 + round_, start_s=start, account_id=sim.account_id,
                    organization_id=sim.organization_id, user_ids=sim.event_user_ids,
                )  # fmt: skip
                events += [json.loads(json.dumps(e)) for _, e in played]
                findings.append((EXPECTED[name], start))
    times = [_epoch(e["timestamp"]) for e in events]
    keep = [
        i
        for i, t in enumerate(times)
        if not any(DAY_START + a * 3600 <= t < DAY_START + b * 3600 for a, b in gaps)
    ]
    rng = random.Random("arrival")
    # every tenth event as late as it gets, the rest anywhere up to that
    late = [MAX_LATE_S if i % 10 == 0 else rng.uniform(0, MAX_LATE_S) for i in range(len(keep))]
    return Day([events[i] for i in keep], [times[i] + d for i, d in zip(keep, late)], findings)


class Replay:
    """Runs rules at their scheduled instants over the events searchable at each."""

    def __init__(self, day: Day) -> None:
        self.day = day
        rows = [
            dict(_flat(e), _t=_epoch(e["timestamp"]), _a=a) for e, a in zip(day.events, day.arrival)
        ]
        self.table = Events([], columns=sorted({k for r in rows for k in r}))
        self.table.db.execute("CREATE TABLE day AS SELECT * FROM logs")
        self.table.insert(rows, table="day")
        self.table.db.execute("CREATE INDEX by_time ON day (_t)")
        self._cache: Dict[Tuple[str, float, float], List[Dict[str, Any]]] = {}
        self._window: Tuple[float, float] | None = None

    def _load(self, start: float, end: float) -> None:
        """`logs`, which the rules query, becomes what is searchable at ``end`` (arrived) with
        an event time from ``start``."""
        if self._window == (start, end):
            return
        self.table.db.execute("DELETE FROM logs")
        self.table.db.execute(
            "INSERT INTO logs SELECT * FROM day WHERE _t BETWEEN ? AND ? AND _a <= ?",
            (start, end, end),
        )
        self._window = (start, end)

    def results(self, query: str, start: float, end: float) -> List[Dict[str, Any]]:
        """The query's result rows at run time ``end`` over event times from ``start``."""
        key = (query, start, end)
        if key not in self._cache:
            self._load(start, end)
            if query == SILENT:
                count = self.table.db.execute("SELECT count(*) FROM logs").fetchone()[0]
                self._cache[key] = [{"events": 0}] if count == 0 else []
            else:
                self._cache[key] = self.table.rows(query)
        return self._cache[key]

    def alerts(self, schedule: Schedule) -> List[float]:
        """The instants the rule alerts over the day, throttling and suppression applied."""
        last: Dict[Tuple[Any, ...], float] = {}
        alerted_documents: set = set()
        out = []
        run = DAY_START + 30 * MINUTE  # the collector started at midnight
        while run <= DAY_END + 2 * 3600:
            start = run - schedule.look_back_s
            if schedule.snap_to_minute:
                start = start // MINUTE * MINUTE
            for row in self.results(schedule.query, start, run):
                if schedule.dedupe_documents:
                    if row["eventId"] in alerted_documents:
                        continue
                    alerted_documents.add(row["eventId"])
                group = json.loads(row["group_keys"]) if "group_keys" in row else row
                if schedule.aggregating:  # its rows hold the group-by fields only
                    assert set(schedule.suppress_fields) <= set(group), (schedule.rule, group)
                key = tuple(str(group.get(f, "")).lower() for f in schedule.suppress_fields)
                if key in last and run - last[key] < schedule.suppress_s:
                    continue
                last[key] = run
                out.append(run)
            run += schedule.interval_s
        return out


def per_finding(replay: Replay, schedules: Dict[str, Schedule]) -> Dict[str, List[int]]:
    """rule -> alerts per finding of it (a finding's alerts: within two hours of its start),
    with alerts that belong to no finding counted under a finding at start 0."""
    out = {}
    for rule, schedule in sorted(schedules.items()):
        starts = [s for r, s in replay.day.findings if r == rule]
        counts = [0] * len(starts)
        stray = 0
        for at in replay.alerts(schedule):
            owners = [i for i, s in enumerate(starts) if s <= at <= s + 2 * 3600]
            if owners:
                counts[owners[0]] += 1
            else:
                stray += 1
        out[rule] = counts + ([stray] if stray else [])
    return out


# -- fixtures --------------------------------------------------------------------------------

SPLUNK_CONF = build.SPLUNK_APP / "default" / "savedsearches.conf"
ELASTIC_RULES = REPO / "detections" / "elasticsearch" / "detection-rules.ndjson"


@pytest.fixture(scope="module")
def scenario_day() -> Replay:
    return Replay(make_day(scenarios=True))


@pytest.fixture(scope="module")
def quiet_day() -> Replay:
    """No scenario; three quiet hours at night and a five-and-a-half-hour outage after noon."""
    return Replay(make_day(scenarios=False, gaps=[(2.0, 5.0), (12.0, 17.5)]))


def _schedules(siem: str, replay: Replay) -> Dict[str, Schedule]:
    if siem == "splunk":
        return splunk_schedules(SPLUNK_CONF.read_text(encoding="utf-8"))
    return elastic_schedules(ELASTIC_RULES.read_text(encoding="utf-8"), replay.table.columns)


SIEMS = ["splunk", "elasticsearch"]


# -- the proof -------------------------------------------------------------------------------


@pytest.mark.parametrize("siem", SIEMS)
def test_every_rule_is_scheduled_with_its_throttling(siem, scenario_day):
    schedules = _schedules(siem, scenario_day)
    assert set(schedules) == set(EXPECTED.values()) | {SILENT}
    for schedule in schedules.values():
        assert schedule.suppress_s >= schedule.look_back_s, schedule  # covers the look-back
        assert schedule.look_back_s - schedule.interval_s >= MAX_LATE_S, schedule  # late events


@pytest.mark.parametrize("siem", SIEMS)
def test_a_day_with_every_scenario_twice_alerts_exactly_once_per_finding(siem, scenario_day):
    got = per_finding(scenario_day, _schedules(siem, scenario_day))
    expected = {rule: [1, 1] for rule in EXPECTED.values()} | {SILENT: []}
    assert got == expected


@pytest.mark.parametrize("siem", SIEMS)
def test_a_quiet_day_alerts_only_for_the_long_outage_and_once(siem, quiet_day):
    """Three quiet hours at night: no alert (the old Elastic `from: now-30m` fired after 30
    minutes); a 5.5-hour outage: the silent-collector rule, once."""
    alerts = {
        rule: quiet_day.alerts(schedule) for rule, schedule in _schedules(siem, quiet_day).items()
    }
    fired = {rule: times for rule, times in alerts.items() if times}
    assert list(fired) == [SILENT] and len(fired[SILENT]) == 1
    outage_start, outage_end = DAY_START + 12 * 3600, DAY_START + 17.5 * 3600
    assert outage_start + 4 * 3600 <= fired[SILENT][0] <= outage_end


@pytest.mark.parametrize("siem", SIEMS)
def test_the_replay_catches_a_setting_that_would_break_the_promise(siem, scenario_day):
    """The proof can fail: without throttling one finding alerts several times; with windows
    as long as the interval a late event's finding is missed or split."""
    schedules = _schedules(siem, scenario_day)
    unthrottled = {r: replace(s, suppress_s=0.0) for r, s in schedules.items() if r != SILENT}
    assert any(max(n) > 1 for n in per_finding(scenario_day, unthrottled).values())
    tight = {r: replace(s, look_back_s=s.interval_s) for r, s in schedules.items() if r != SILENT}
    assert per_finding(scenario_day, tight) != {r: [1, 1] for r in tight}


@pytest.mark.parametrize("siem", SIEMS)
def test_fixed_buckets_would_miss_the_spray_a_bucket_edge_splits(siem, scenario_day):
    """pySigma's own SPL and ES|QL count in fixed 10-minute buckets: the first round's password
    spray (15 users in 5 minutes, 8 before an edge and 7 after) is missed; the shipped sliding
    (Splunk) and hopping (Elastic) windows catch it."""
    spray = "docusign_password_spray_one_ip"
    schedule = _schedules(siem, scenario_day)[spray]
    assert schedule.counting is not None
    fixed = replace(schedule.counting, sliding=False, hop_s=None)
    bucketed = replace(schedule, query=fixed.sql(base_sql(spray)))
    assert per_finding(scenario_day, {spray: bucketed})[spray] == [0, 1]
    assert per_finding(scenario_day, {spray: schedule})[spray] == [1, 1]
