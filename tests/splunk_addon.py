"""Splunk's search-time pipeline for our add-on, small enough to read: .conf files, KV_MODE=json
extraction, calculated fields (the subset of eval the add-on uses), event types and tags, and the
search terms CIM's dataset constraints are written in. It follows Splunk's documented order:
extractions, then field aliases, then calculated fields (each reading the extracted values, never
another's result), then event types, then tags.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

Fields = Dict[str, Any]  # value: str, or list of str (multivalue)


def read_conf(path: Path) -> Dict[str, Dict[str, str]]:
    """Stanzas of a Splunk .conf file (comments and blank lines skipped)."""
    stanzas: Dict[str, Dict[str, str]] = {}
    current: Dict[str, str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("[") and text.endswith("]"):
            current = stanzas.setdefault(text[1:-1], {})
            continue
        key, _, value = text.partition("=")
        assert current is not None, f"{path.name}: setting outside a stanza: {line}"
        current[key.strip()] = value.strip()
    return stanzas


def json_fields(event: Any, prefix: str = "") -> Fields:
    """KV_MODE=json: nested keys joined with '.', list items under 'key{}' (multivalue)."""
    out: Fields = {}

    def put(name: str, value: str) -> None:
        if name in out:
            old = out[name]
            out[name] = (old if isinstance(old, list) else [old]) + [value]
        else:
            out[name] = value

    def walk(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}.{key}" if name else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, name + "{}")
        elif value is None:
            put(name, "null")
        elif isinstance(value, bool):
            put(name, "true" if value else "false")
        else:
            put(name, str(value))

    walk(event, prefix)
    return out


# --- eval -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<quoted>\'[^\']*\')|(?P<num>\d+(?:\.\d+)?)'
    r"|(?P<op>==|!=|[(),.])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match and match.end() > pos, f"cannot read eval at {text[pos : pos + 30]!r}"
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Eval:
    """Recursive descent over: OR < AND < NOT < comparison < concatenation < primary."""

    def __init__(self, text: str, fields: Fields) -> None:
        self.tokens, self.i, self.fields = _tokens(text), 0, fields

    def run(self) -> Any:
        value = self.disjunction()
        assert self.i == len(self.tokens), f"unread eval tokens: {self.tokens[self.i :]}"
        return value

    def peek(self) -> Tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("", "")

    def take(self, value: str) -> bool:
        if self.peek()[1] == value:
            self.i += 1
            return True
        return False

    def disjunction(self) -> Any:
        left = self.conjunction()
        while self.take("OR"):
            right = self.conjunction()
            left = bool(left) or bool(right)
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.take("AND"):
            right = self.negation()
            left = bool(left) and bool(right)
        return left

    def negation(self) -> Any:
        if self.take("NOT"):
            return not self.negation()
        return self.comparison()

    def comparison(self) -> Any:
        left = self.concatenation()
        for op in ("==", "!="):
            if self.take(op):
                right = self.concatenation()
                if left is None or right is None:
                    return None
                lefts = left if isinstance(left, list) else [left]
                equal = any(item == right for item in lefts)
                return equal if op == "==" else not equal
        return left

    def concatenation(self) -> Any:
        left = self.primary()
        while self.take("."):
            right = self.primary()
            left = None if left is None or right is None else f"{left}{right}"
        return left

    def primary(self) -> Any:
        kind, text = self.peek()
        self.i += 1
        if kind == "str":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if kind == "num":
            return text
        if kind == "quoted":  # a field name; CIM's validity rules also quote like() patterns so
            name = text[1:-1]
            return name.replace('\\"', '"') if "%" in name else self.fields.get(name)
        if text == "(":
            value = self.disjunction()
            assert self.take(")")
            return value
        assert kind == "word", f"unexpected {text!r} in eval"
        if self.peek()[1] != "(":
            return self.fields.get(text)
        self.i += 1
        args: List[Callable[[], Any]] = []
        if not self.take(")"):
            while True:
                start = self.i
                self.disjunction()
                end = self.i
                args.append(lambda s=start, e=end: _Eval.slice(self, s, e))
                if self.take(")"):
                    break
                assert self.take(","), "expected , in a call"
        return _call(text, args)

    def slice(self, start: int, end: int) -> Any:
        saved = self.i
        self.i = start
        value = self.disjunction()
        assert self.i == end
        self.i = saved
        return value


def _call(name: str, args: List[Callable[[], Any]]) -> Any:
    if name == "true":
        return True
    if name == "null":
        return None
    if name == "if":
        return args[1]() if args[0]() else args[2]()
    if name == "case":
        for i in range(0, len(args), 2):
            if args[i]():
                return args[i + 1]()
        return None
    if name == "coalesce":
        for arg in args:
            value = arg()
            if value is not None:
                return value
        return None
    values = [arg() for arg in args]
    if name == "nullif":
        return None if values[0] == values[1] else values[0]
    if name == "lower":
        return None if values[0] is None else str(values[0]).lower()
    if name == "in":
        return values[0] is not None and values[0] in values[1:]
    if name == "like":
        if values[0] is None:
            return None
        pattern = re.escape(values[1]).replace("%", ".*").replace("_", ".")
        return re.fullmatch(pattern, str(values[0]), re.S) is not None
    raise AssertionError(f"eval function {name}() is not one this checker knows")


def eval_expression(text: str, fields: Fields) -> Any:
    return _Eval(text, fields).run()


# --- search terms (event types, CIM constraints) -----------------------------------------------

_TERM = re.compile(r'\s*(\(|\)|"[^"]*"|[^\s()]+)')


def search_matches(text: str, fields: Fields) -> bool:
    """Whether an event's fields satisfy a search: field=value, field!=value (values
    case-insensitive, * wildcards), implicit AND, OR, NOT, parentheses."""
    tokens = [t for t in _TERM.findall(text) if t]
    pos = 0

    def disjunction() -> bool:
        nonlocal pos
        value = conjunction()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        nonlocal pos
        value = True
        while pos < len(tokens) and tokens[pos] not in (")", "OR"):
            if tokens[pos] == "AND":
                pos += 1
                continue
            value = unary() and value
        return value

    def unary() -> bool:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "NOT":
            return not unary()
        if token == "(":
            value = disjunction()
            assert tokens[pos] == ")"
            pos += 1
            return value
        return _term(token, fields)

    result = disjunction()
    assert pos == len(tokens), f"unread search: {tokens[pos:]}"
    return result


def _term(token: str, fields: Fields) -> bool:
    negate = "!=" in token
    name, value = token.split("!=" if negate else "=", 1)
    value = value.strip('"').lower()
    present = fields.get(name)
    if present is None:
        return False
    values = present if isinstance(present, list) else [present]
    hit = any(fnmatch.fnmatchcase(str(v).lower(), value) for v in values)
    return not hit if negate else hit


# --- the add-on -----------------------------------------------------------------------------


class AddOn:
    """The add-on's search-time knowledge, applied to one raw event at a time."""

    def __init__(self, root: Path) -> None:
        self.props = read_conf(root / "default" / "props.conf")["docusign:monitor"]
        self.eventtypes = read_conf(root / "default" / "eventtypes.conf")
        self.tags = read_conf(root / "default" / "tags.conf")

    def fields(self, event: Dict[str, Any]) -> Fields:
        assert self.props["KV_MODE"] == "json"
        extracted = json_fields(event)
        extracted["sourcetype"] = "docusign:monitor"  # set at index time by the sender
        fields = dict(extracted)
        for key, value in self.props.items():
            if key.startswith("FIELDALIAS-"):
                for source, target in re.findall(r"(\S+)\s+AS\s+(\S+)", value):
                    if source in extracted:
                        fields[target] = extracted[source]
        aliased = dict(fields)
        for key, expression in self.props.items():
            if key.startswith("EVAL-"):
                value = eval_expression(expression, aliased)
                name = key[len("EVAL-") :]
                if value is None:
                    fields.pop(name, None)
                else:
                    fields[name] = value if isinstance(value, (str, list)) else str(value)
        matched = [
            name
            for name, stanza in self.eventtypes.items()
            if search_matches(stanza["search"], fields)
        ]
        fields["eventtype"] = matched
        tags: List[str] = []
        for name in matched:
            for tag, state in self.tags.get(f"eventtype={name}", {}).items():
                if state == "enabled" and tag not in tags:
                    tags.append(tag)
        fields["tag"] = tags
        return fields


def datasets_matched(cim: Dict[str, Any], fields: Fields) -> Iterator[str]:
    """The CIM datasets (``model/dataset``) an event falls in: tags, parent, constraint."""

    def matches(name: str) -> bool:
        spec = cim[name]
        if not any(set(group) <= set(fields["tag"]) for group in spec["tags"]):
            return False
        if spec.get("parent") and not matches(spec["parent"]):
            return False
        return search_matches(spec["search_constraints"], fields)

    for name in cim:
        if matches(name):
            yield name
