"""pySigma's SQLite backend over simulated events: the machinery the Sigma proof and the
scheduler replay share. The events are the simulator's exact JSON, flattened into one column per
field path, as the Splunk and Loki `json` parsers see them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

from scenario_rules import EXPECTED  # noqa: F401  (the proofs import it from here)
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "detections" / "sigma").glob("*.yml"))


def flatten(value: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        yield prefix[:-1], json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool):
        yield prefix[:-1], "true" if value else "false"
    else:
        yield prefix[:-1], value


def queries() -> Dict[str, str]:
    """rule file stem -> the SQLite query pySigma made of it (the last: the correlation)."""
    out = {}
    for path in RULES:
        rules = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        out[path.stem] = sqliteBackend().convert(rules)[-1]
    return out


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


class Events:
    """A SQLite table `logs` of flattened events, one column per field path."""

    def __init__(self, events: List[Dict[str, Any]], columns: Sequence[str] = ()) -> None:
        self.db = sqlite3.connect(":memory:")
        rows = [dict(flatten(e)) for e in events]
        self.columns = sorted({key for row in rows for key in row} | set(columns))
        self.db.execute(f"CREATE TABLE logs ({_quoted(self.columns)})")
        self.insert(rows)

    def insert(self, rows: List[Dict[str, Any]], table: str = "logs") -> None:
        self.db.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' for _ in self.columns)})",
            [[row.get(c, "") for c in self.columns] for row in rows],
        )

    def rows(self, query: str) -> List[Dict[str, Any]]:
        """The query's result rows as column -> value."""
        cursor = self.db.execute(query)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def firing(self, queries: Dict[str, str]) -> Dict[str, int]:
        """rule -> rows its query returns, for the rules that return any."""
        hits = {rule: len(self.db.execute(query).fetchall()) for rule, query in queries.items()}
        return {rule: n for rule, n in hits.items() if n}
