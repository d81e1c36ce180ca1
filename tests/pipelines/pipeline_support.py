"""What the pipeline tests need to read our configs and behave like Vector and Fluent Bit.

Neither Vector nor Fluent Bit can be installed where these tests run, so this module emulates the
parts of them our configs depend on:

- reading configs: Fluent Bit classic (``[SECTION]`` + indented ``key value``) and YAML, and
  Vector YAML;
- checking every key against the option sets in ``data/`` (name, type, enum, relevance; their
  source and licence are in ``data/README.md``);
- framing the connector's stdout: Fluent Bit's ``fgets`` into ``buf_size`` bytes, Vector's newline
  framing with ``max_length``;
- Fluent Bit's JSON parser with ``time_key``/``time_format``/``time_keep``/``time_strict``;
- Vector's remap (run by ``vrl-python`` when installed, else a Python mirror of our program);
- what each sink puts on the wire, for the receiver smoke tests.
"""

from __future__ import annotations

import calendar
import gzip
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
OPTION_SETS = Path(__file__).resolve().parent / "data"
VECTOR_DIR = REPO_ROOT / "vector"
FLUENT_BIT_DIR = REPO_ROOT / "fluent-bit"
EXAMPLES_DIR = REPO_ROOT / "examples"

#: The exec configs (Vector runs the connector) and the forward ones (the connector runs beside
#: Vector and sends to its `fluent` source, acknowledged end to end).
VECTOR_CONFIGS = sorted(p for p in VECTOR_DIR.glob("*.yaml") if not p.name.startswith("forward-"))
VECTOR_FORWARD_CONFIGS = sorted(VECTOR_DIR.glob("forward-*.yaml"))
FLUENT_BIT_CONFIGS = sorted(
    p for p in list(FLUENT_BIT_DIR.glob("*.yaml")) + list(FLUENT_BIT_DIR.glob("*.conf"))
    if p.name != "parsers.conf"
)


def load_shared(name: str) -> Dict[str, Any]:
    """An option set of Vector or Fluent Bit, vendored in ``tests/pipelines/data``."""
    return json.loads((OPTION_SETS / name).read_text(encoding="utf-8"))


# --- timestamps ----------------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                  r"(Z|[+-]\d\d:?\d\d)$")


def iso_to_ns(text: str) -> int:
    """Exact Unix nanoseconds of an RFC 3339 time (Python's datetime stops at microseconds)."""
    m = _ISO.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    tz = m.group(8)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 1_000_000_000 + int(frac)


def ns_to_rfc3339(ns: int, digits: int = 9) -> str:
    import time as _time

    secs, frac = divmod(ns, 1_000_000_000)
    base = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(secs))
    if digits == 0:
        return base + "Z"
    return f"{base}.{str(frac).zfill(9)[:digits]}Z"


# --- Fluent Bit config reading -------------------------------------------------------------------


@dataclass
class FluentBitConfig:
    path: Path
    service: Dict[str, Any] = field(default_factory=dict)
    parsers: List[Dict[str, Any]] = field(default_factory=list)
    inputs: List[Dict[str, Any]] = field(default_factory=list)
    outputs: List[Dict[str, Any]] = field(default_factory=list)
    #: not checked against an option set (none vendored); tests/fluentbit's --dry-run on real
    #: Fluent Bit checks them
    filters: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def events_input(self) -> Dict[str, Any]:
        """The input the events come in by (exec or forward), not the diagnostics' tail."""
        [found] = [i for i in self.inputs if i.get("tag") != "docusign.diagnostics"]
        return found

    @property
    def events_output(self) -> Dict[str, Any]:
        """The output the events leave by (`match`, or a `match_regex` that takes them)."""
        [found] = [o for o in self.outputs if o.get("match") == "docusign.monitor"
                   or re.fullmatch(str(o.get("match_regex", "^$")), "docusign.monitor")]
        return found

    def parser(self, name: str) -> Dict[str, Any]:
        for p in self.parsers:
            if str(p.get("name")) == name:
                return p
        raise KeyError(f"{self.path.name}: no parser named {name!r}")


def parse_classic(text: str, where: str = "<config>") -> List[Tuple[str, List[Tuple[str, str]]]]:
    """Fluent Bit's classic format: ``[SECTION]`` headers, indented ``key value`` entries,
    ``#`` comment lines. ``@INCLUDE``/``@SET`` are refused (our files do not use them)."""
    sections: List[Tuple[str, List[Tuple[str, str]]]] = []
    indent: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("@"):
            raise ValueError(f"{where}:{n}: directive {stripped.split()[0]} not supported here")
        if not line[0].isspace():
            m = re.fullmatch(r"\[([A-Za-z_]+)\]", stripped)
            if not m:
                raise ValueError(f"{where}:{n}: expected [SECTION] or an indented entry: {raw!r}")
            sections.append((m.group(1).upper(), []))
            indent = None
            continue
        if not sections:
            raise ValueError(f"{where}:{n}: entry outside a section")
        lead = line[: len(line) - len(line.lstrip())]
        if indent is None:
            indent = lead
        elif lead != indent:
            raise ValueError(f"{where}:{n}: inconsistent indentation")
        parts = stripped.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"{where}:{n}: key without value: {stripped!r}")
        sections[-1][1].append((parts[0], parts[1].strip()))
    return sections


def _fb_scalar(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError(f"unexpected value {value!r}")


def fb_on(value: str) -> bool:
    """Fluent Bit's reading of a boolean property."""
    v = str(value).strip().lower()
    if v in ("on", "true", "yes", "1"):
        return True
    if v in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def fb_normalized(props: Dict[str, Any]) -> Dict[str, Any]:
    """Properties with booleans spelled one way (YAML's `false` and classic `off` are equal)."""
    out = {}
    for k, v in props.items():
        try:
            out[k] = "on" if fb_on(v) else "off"
        except ValueError:
            out[k] = v
    return out


def _fb_props(items: Iterable[Tuple[str, Any]], where: str) -> Dict[str, Any]:
    props: Dict[str, Any] = {}
    for k, v in items:
        key = str(k).lower()
        if key in props:
            raise ValueError(f"{where}: key {key!r} given twice")
        props[key] = _fb_scalar(v)
    return props


def load_fluent_bit(path: Path) -> FluentBitConfig:
    cfg = FluentBitConfig(path=path)
    if path.suffix == ".conf":
        for name, entries in parse_classic(path.read_text(encoding="utf-8"), str(path)):
            props = _fb_props(entries, f"{path.name} [{name}]")
            if name == "SERVICE":
                cfg.service.update(props)
            elif name == "INPUT":
                cfg.inputs.append(props)
            elif name == "OUTPUT":
                cfg.outputs.append(props)
            elif name == "FILTER":
                cfg.filters.append(props)
            elif name == "PARSER":
                cfg.parsers.append(props)
            else:
                raise ValueError(f"{path.name}: unexpected section [{name}]")
        parsers_file = cfg.service.get("parsers_file")
        if parsers_file:
            ppath = (path.parent / parsers_file) if not parsers_file.startswith("/") else Path(
                parsers_file)
            for name, entries in parse_classic(ppath.read_text(encoding="utf-8"), str(ppath)):
                if name != "PARSER":
                    raise ValueError(f"{ppath.name}: unexpected section [{name}]")
                cfg.parsers.append(_fb_props(entries, f"{ppath.name} [PARSER]"))
        return cfg
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(doc) - {"service", "parsers", "pipeline"}
    if unknown:
        raise ValueError(f"{path.name}: unexpected top-level sections {sorted(unknown)}")
    cfg.service = _fb_props((doc.get("service") or {}).items(), f"{path.name} service")
    cfg.parsers = [_fb_props(p.items(), f"{path.name} parser") for p in doc.get("parsers") or []]
    pipeline = doc.get("pipeline") or {}
    cfg.inputs = [_fb_props(p.items(), f"{path.name} input") for p in pipeline.get("inputs") or []]
    cfg.outputs = [_fb_props(p.items(), f"{path.name} output")
                   for p in pipeline.get("outputs") or []]
    cfg.filters = [_fb_props(p.items(), f"{path.name} filter")
                   for p in pipeline.get("filters") or []]
    return cfg


# --- Fluent Bit option checking ------------------------------------------------------------------

#: ${VAR}, or ${VAR:-default} (Fluent Bit 4.2+: the default when VAR is unset or empty).
_ENV_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-(?P<default>[^}]*))?\}$")
_FB_BOOL = {"on", "off", "true", "false", "yes", "no", "1", "0"}


def _fb_value_problem(key: str, value: str, spec: Dict[str, Any]) -> str | None:
    ref = _ENV_REF.match(value)
    if ref and ref.group("default") is None:
        return None  # only known at run time
    if ref:  # the default must be a valid value itself
        value = ref.group("default")
    typ = spec.get("type")
    v = value.strip()
    ok = True
    if typ == "bool":
        ok = v.lower() in _FB_BOOL
    elif typ == "int":
        ok = re.fullmatch(r"-?\d+", v) is not None
    elif typ == "double":
        ok = re.fullmatch(r"-?\d+(\.\d+)?", v) is not None
    elif typ == "size":
        ok = re.fullmatch(r"\d+(\.\d+)?([KMG]B?)?", v, re.IGNORECASE) is not None
    elif typ == "time":
        ok = re.fullmatch(r"\d+(\.\d+)?[smhd]?", v) is not None
    elif typ in ("clist", "slist"):
        items = [x for x in (v.split(",") if typ == "clist" else v.split()) if x.strip()]
        ok = len(items) >= int(spec.get("min_values", 1))
    elif typ == "deprecated":
        return f"{key}: deprecated (accepted and ignored)"
    if not ok:
        return f"{key}: {value!r} is not a valid {typ}"
    enum = spec.get("enum")
    if enum and v.lower() not in {e.lower() for e in enum}:
        return f"{key}: {value!r} not one of {enum}"
    if key == "retry_limit" and not (re.fullmatch(r"[1-9]\d*", v) or v.lower() in
                                     ("no_limits", "false", "off", "no_retries")):
        return f"retry_limit: {value!r} is not a positive integer, no_limits or no_retries"
    return None


def _fb_plugin_spec(options: Dict[str, Any], kind: str, name: str) -> Dict[str, Dict[str, Any]]:
    plugins = options["inputs" if kind == "input" else "outputs"]
    if name not in plugins:
        raise KeyError(f"{kind} plugin {name!r} is not in the option set")
    info = options["plugin_info"]["inputs" if kind == "input" else "outputs"][name]
    generic = options["input_generic" if kind == "input" else "output_generic"]
    spec: Dict[str, Dict[str, Any]] = {}
    for key, s in generic.items():
        need = s.get("requires")
        if need == "net" and info.get("net", "none") == "none":
            continue
        if need == "net_server" and "server" not in info.get("net", ""):
            continue
        if need == "tls" and info.get("tls", "none") == "none":
            continue
        if need == "http_server" and not info.get("http_server"):
            continue
        spec[key] = s
    spec.update(plugins[name])
    return spec


def fluent_bit_problems(cfg: FluentBitConfig, options: Dict[str, Any]) -> List[str]:
    """Every key of every section that Fluent Bit 5.1.1 would not take as written."""
    problems: List[str] = []

    def check(section: str, props: Dict[str, Any], spec: Dict[str, Dict[str, Any]]) -> None:
        for key, value in props.items():
            if key not in spec:
                problems.append(f"{section}: unknown key {key!r}")
                continue
            p = _fb_value_problem(key, value, spec[key])
            if p:
                problems.append(f"{section}: {p}")
        for key, s in spec.items():
            if s.get("required") and key not in props:
                problems.append(f"{section}: required key {key!r} missing")

    check("service", cfg.service, options["service"])
    for p in cfg.parsers:
        check(f"parser {p.get('name')}", p, options["parser"])
    for kind, sections in (("input", cfg.inputs), ("output", cfg.outputs)):
        for props in sections:
            name = str(props.get("name", "")).lower()
            try:
                spec = _fb_plugin_spec(options, kind, name)
            except KeyError as exc:
                problems.append(str(exc))
                continue
            check(f"{kind} {name}", props, spec)
    return problems


# --- Vector config checking ----------------------------------------------------------------------


def _relevant(cond: str, siblings: Dict[str, Any]) -> bool:
    """Evaluate the simple `key = "value" (or ...)` hints of the option set."""
    alternatives = re.findall(r'(\w+) = "([^"]*)"', cond)
    if not alternatives:
        return True
    return any(str(siblings.get(k)) == v for k, v in alternatives)


def _vector_type_ok(typ: Any, value: Any, spec: Dict[str, Any]) -> bool:
    if isinstance(typ, list):
        return any(_vector_type_ok(t, value, spec) for t in typ)
    if typ == "string":
        return isinstance(value, str)
    if typ == "bool":
        return isinstance(value, bool)
    if typ == "uint":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if typ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ == "ascii_char":
        return isinstance(value, str) and len(value) == 1 and value.isascii()
    if typ == "array":
        return isinstance(value, list)
    if typ == "object":
        return isinstance(value, dict) or (spec.get("accepts_bool") and isinstance(value, bool))
    if typ == "enum":
        return isinstance(value, str) and value in spec.get("enum", [])
    if typ == "condition":
        return isinstance(value, (str, dict))
    if typ == "any":
        return True
    return False


def _walk_vector(node: Dict[str, Any], prefix: str, spec: Dict[str, Dict[str, Any]],
                 excluded: set, where: str, problems: List[str]) -> None:
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else key
        s = spec.get(path)
        if s is None or path in excluded:
            why = " (only in the unreleased 0.58 snapshot, not 0.57)" if path in excluded else ""
            problems.append(f"{where}: unknown option {path!r}{why}")
            continue
        if "relevant_when" in s and not _relevant(s["relevant_when"], node):
            problems.append(f"{where}: {path!r} only applies when {s['relevant_when']}")
        if not _vector_type_ok(s.get("type"), value, s):
            problems.append(f"{where}: {path!r} = {value!r:.60} is not of type {s.get('type')}"
                            + (f" {s.get('enum')}" if s.get("enum") else ""))
            continue
        if s.get("type") == "array" and s.get("items") and isinstance(value, list):
            item_t = s["items"]
            for item in value:
                if item_t == "object" and isinstance(item, dict):
                    _walk_vector(item, path + "[]", spec, excluded, where, problems)
                elif item_t != "object" and not _vector_type_ok(item_t, item, {}):
                    problems.append(f"{where}: {path!r} item {item!r:.40} is not {item_t}")
        if isinstance(value, dict):
            if s.get("free_form"):
                vt = s.get("value_type")
                for user_key, user_val in value.items():
                    sub = f"{path}.*"
                    if any(k.startswith(sub + ".") for k in spec):
                        if isinstance(user_val, dict):
                            _walk_vector(user_val, sub, spec, excluded, where, problems)
                        else:
                            problems.append(f"{where}: {path}.{user_key} must be an object")
                    elif vt and not _vector_type_ok(vt, user_val, {}):
                        problems.append(f"{where}: {path}.{user_key} = {user_val!r:.40} is not "
                                        f"{vt}")
            elif s.get("type") != "any":
                _walk_vector(value, path, spec, excluded, where, problems)
    # required keys of this level (when their relevance holds)
    depth = prefix.count(".") + 1 if prefix else 0
    for path, s in spec.items():
        if not s.get("required"):
            continue
        parent, _, leaf = path.rpartition(".")
        if parent != prefix or path.count(".") != depth:
            continue
        if "relevant_when" in s and not _relevant(s["relevant_when"], node):
            continue
        if leaf not in node:
            problems.append(f"{where}: required option {path!r} missing")


def vector_problems(config: Dict[str, Any], options: Dict[str, Any]) -> List[str]:
    """Every key Vector 0.57 would refuse or ignore: unknown, wrong type, not applicable."""
    problems: List[str] = []
    diffs = options.get("differences_from_release_tag", {}).get("by_component", {})
    glob_spec = options["global"]
    glob_excluded = set(diffs.get("global", {}).get("added") or [])
    top = {k: v for k, v in config.items() if k not in ("sources", "transforms", "sinks")}
    _walk_vector(top, "", glob_spec, glob_excluded, "global", problems)
    for kind in ("sources", "transforms", "sinks"):
        for cid, comp in (config.get(kind) or {}).items():
            ctype = comp.get("type")
            spec = options["components"].get(kind, {}).get(ctype)
            if spec is None:
                problems.append(f"{kind}.{cid}: component type {ctype!r} not in the option set")
                continue
            excluded = set(diffs.get(f"{kind}.{ctype}", {}).get("added") or [])
            _walk_vector(comp, "", spec, excluded, f"{kind}.{cid}", problems)
    return problems


def vector_component_ids(config: Dict[str, Any]) -> Dict[str, str]:
    return {cid: kind for kind in ("sources", "transforms", "sinks")
            for cid in (config.get(kind) or {})}


def vector_outputs(config: Dict[str, Any]) -> set:
    """Names a component's `inputs` may refer to: component IDs and their named outputs."""
    names = set(vector_component_ids(config))
    for cid, t in (config.get("transforms") or {}).items():
        if t.get("type") == "route":  # a route has named outputs only
            names.discard(cid)
            names |= {f"{cid}.{r}" for r in t.get("route", {})}
            if t.get("reroute_unmatched", True):
                names.add(f"{cid}._unmatched")
        if t.get("type") == "remap" and t.get("reroute_dropped"):
            names.add(f"{cid}.dropped")
    return names


# --- framing -------------------------------------------------------------------------------------


def fluent_bit_size(text: str) -> int:
    """Fluent Bit sizes: 1000-based K/M/G suffixes, optional B."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]?)B?", text.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r}")
    mult = {"": 1, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def fgets_records(data: bytes, buf_size: int) -> List[bytes]:
    """Fluent Bit's in_exec loop: ``fgets(buf, buf_size)`` reads up to buf_size-1 bytes, stopping
    after a newline; one trailing newline is removed; each read is one record."""
    records = []
    pos = 0
    limit = buf_size - 1
    while pos < len(data):
        nl = data.find(b"\n", pos, pos + limit)
        end = nl + 1 if nl != -1 else min(pos + limit, len(data))
        chunk = data[pos:end]
        pos = end
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        records.append(chunk)
    return records


def vector_newline_frames(data: bytes, max_length: int | None) -> Tuple[List[bytes], int]:
    """Vector's newline_delimited framing: frames longer than max_length are discarded (logged
    by Vector); an unterminated last frame is emitted at EOF. Returns (frames, discarded)."""
    frames, discarded = [], 0
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for part in parts:
        if max_length is not None and len(part) > max_length:
            discarded += 1
            continue
        frames.append(part)
    return frames, discarded


# --- Fluent Bit parser ---------------------------------------------------------------------------


def fluent_bit_parse_time(text: str, time_format: str, strict: bool) -> int | None:
    """Fluent Bit's time parsing for the directives our parser uses. `%L` reads 1 to 7 fraction
    digits; with time_strict off, a missing `.%L` is accepted. `%z` takes Z, +hh:mm or +hhmm.
    Returns Unix nanoseconds, or None when the time cannot be read."""
    regex, pos = "", 0
    groups = []
    fmt = time_format
    while pos < len(fmt):
        if fmt[pos] == "%" and pos + 1 < len(fmt):
            d = fmt[pos + 1]
            pos += 2
            if d in "Ymd HMS".replace(" ", ""):
                width = 4 if d == "Y" else 2
                regex += rf"(\d{{{width}}})"
                groups.append(d)
            elif d == "L":
                if regex.endswith(r"\."):
                    regex = regex[:-2] + (r"(?:\.(\d{1,7}))" + ("" if strict else "?"))
                else:
                    regex += r"(\d{1,7})"
                groups.append("L")
            elif d == "z":
                regex += r"(Z|[+-]\d\d:?\d\d)"
                groups.append("z")
            else:
                raise ValueError(f"directive %{d} not emulated")
        else:
            regex += re.escape(fmt[pos])
            pos += 1
    m = re.fullmatch(regex, text)
    if not m:
        return None
    vals = dict(zip(groups, m.groups()))
    iso = (f"{vals['Y']}-{vals['m']}-{vals['d']}T{vals['H']}:{vals['M']}:{vals['S']}"
           + (f".{vals['L']}" if vals.get("L") else "") + (vals.get("z") or "Z"))
    return iso_to_ns(iso)


def fluent_bit_json_parser(line: bytes, parser: Dict[str, Any]
                           ) -> Tuple[int | None, Dict[str, Any]] | None:
    """A record as Fluent Bit's JSON parser makes it: (time_ns or None for "now", record), or
    None when the parser fails and in_exec drops the line."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    on = {"on", "true", "yes", "1"}
    time_key = parser.get("time_key")
    t_ns: int | None = None
    if time_key and isinstance(record.get(time_key), str):
        strict = str(parser.get("time_strict", "on")).lower() in on
        t_ns = fluent_bit_parse_time(record[time_key], parser["time_format"], strict)
        if t_ns is None and strict:
            return None
        if str(parser.get("time_keep", "off")).lower() not in on and t_ns is not None:
            record = {k: v for k, v in record.items() if k != time_key}
    return t_ns, record


# --- Vector remap --------------------------------------------------------------------------------

_VRL_TS = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC$")


def vrl_timestamp_ns(value: Any) -> int | None:
    """vrl-python renders a timestamp-typed value as ``2026-11-27 09:10:06.051281300 UTC``;
    anything else (an RFC 3339 *string*) is not a timestamp for Vector's sinks."""
    if not isinstance(value, str):
        return None
    m = _VRL_TS.match(value)
    return iso_to_ns(f"{m.group(1)}T{m.group(2)}Z") if m else None


def vrl_available() -> bool:
    try:
        import vrl_python  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class RemapResult:
    dropped: bool
    event: Dict[str, Any]


class VectorRemap:
    """Runs a remap transform's program on one exec-source event.

    The exec source adds `timestamp` (ingest time, a timestamp), `stream`, `host`, `pid`,
    `command`, `source_type`; vrl-python takes no timestamp values in, so the ingest time is set
    by a `now()` line run first. An abort or error with ``drop_on_abort``/``drop_on_error`` +
    ``reroute_dropped`` sends the *original* event to the ``dropped`` output.
    """

    def __init__(self, transform: Dict[str, Any]) -> None:
        self.transform = transform
        self.source = transform["source"]
        self.engine = "vrl-python" if vrl_available() else "python-mirror"
        if self.engine == "vrl-python":
            from vrl_python import VRLRuntime

            self._rt = VRLRuntime()
            self._program = ".timestamp = now()\n" + self.source
            self._rt.compile(self._program)

    def run(self, line: bytes, stream: str = "stdout") -> RemapResult:
        original = {"message": line.decode("utf-8", errors="replace"), "stream": stream,
                    "host": "test-host", "pid": 4242, "source_type": "exec",
                    "command": ["docusign-input"]}
        if self.engine == "vrl-python":
            try:
                result = self._rt.execute(self._program, dict(original))
            except RuntimeError as exc:
                aborted = "aborted" in str(exc)
                dropped = (self.transform.get("drop_on_abort", True) if aborted
                           else self.transform.get("drop_on_error", False))
                if dropped and not self.transform.get("reroute_dropped", False):
                    raise AssertionError(
                        "event dropped without reroute_dropped: lost silently") from exc
                return RemapResult(True, original)
            return RemapResult(False, dict(result.processed_event))
        return self._mirror(original)

    def _mirror(self, original: Dict[str, Any]) -> RemapResult:
        """Our program in Python, used only when vrl-python is not installed."""
        try:
            parsed = json.loads(original["message"])
        except json.JSONDecodeError:
            return RemapResult(True, original)
        if not isinstance(parsed, dict):
            return RemapResult(True, original)
        import time as _time

        ingest = _time.time_ns()
        try:
            t = iso_to_ns(parsed["timestamp"]) if isinstance(parsed.get("timestamp"), str) \
                else ingest
        except ValueError:
            t = ingest
        rendered = ns_to_rfc3339(t).replace("T", " ").replace("Z", " UTC")
        if '"message": .message' in self.source:  # the Loki program keeps the raw line
            return RemapResult(False, {"message": original["message"], "timestamp": rendered})
        event = dict(parsed)
        event["@timestamp"] = rendered
        return RemapResult(False, event)


# --- what the sinks put on the wire (for receiver smoke tests) -----------------------------------


def vector_rfc3339(ns: int) -> str:
    """Vector renders timestamps with chrono's AutoSi: 0, 3, 6 or 9 fraction digits."""
    frac = ns % 1_000_000_000
    digits = 0 if frac == 0 else 3 if frac % 1_000_000 == 0 else 6 if frac % 1000 == 0 else 9
    return ns_to_rfc3339(ns, digits)


def _vector_event_json(event: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for k, v in event.items():
        ns = vrl_timestamp_ns(v)
        out[k] = vector_rfc3339(ns) if ns is not None else v
    return dict(sorted(out.items()))  # Vector's log events are ordered maps


def vector_splunk_body(events: List[Dict[str, Any]], sink: Dict[str, Any]) -> bytes:
    parts = []
    for ev in events:
        ev = dict(ev)
        key = sink.get("timestamp_key", "timestamp")
        ts_ns = vrl_timestamp_ns(ev.pop(key, None))
        env: Dict[str, Any] = {"event": _vector_event_json(ev), "fields": {}}
        if ts_ns is not None:
            env["time"] = round(ts_ns / 1e9, 3)
        for opt in ("index", "source", "sourcetype"):
            if sink.get(opt):
                env[opt] = sink[opt]
        parts.append(json.dumps(env, separators=(",", ":"), ensure_ascii=False))
    return "".join(parts).encode()


def _path(record: Dict[str, Any], path: str) -> Any:
    """A dotted field path (Vector's ``event.id``) in a record."""
    value: Any = record
    for part in path.split("."):
        value = value[part]
    return value


def vector_es_bulk(events: List[Dict[str, Any]], sink: Dict[str, Any]) -> bytes:
    """What the sink posts: bulk mode to ``bulk.index``, or data_stream mode to
    ``<type>-<dataset>-<namespace>`` with the ``data_stream`` fields added (sync_fields)."""
    lines = []
    bulk = sink.get("bulk", {})
    stream = sink.get("data_stream", {})
    for ev in events:
        if sink.get("mode") == "data_stream":
            parts = (stream.get("type", "logs"), stream.get("dataset", "generic"),
                     stream.get("namespace", "default"))
            meta = {"_index": "-".join(parts)}
            if stream.get("sync_fields", True):
                ev = dict(ev, data_stream=dict(zip(("type", "dataset", "namespace"), parts)))
        else:
            meta = {"_index": bulk.get("index", "vector-%Y.%m.%d")}
        if sink.get("id_key"):
            meta["_id"] = _path(ev, sink["id_key"])
        lines.append(json.dumps({bulk.get("action", "index"): meta}))
        lines.append(json.dumps(_vector_event_json(ev), ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def vector_loki_push(events: List[Dict[str, Any]], sink: Dict[str, Any]) -> bytes:
    assert sink["encoding"]["codec"] == "raw_message"
    values = [[str(vrl_timestamp_ns(ev["timestamp"])), ev["message"]] for ev in events]
    body = json.dumps({"streams": [{"stream": dict(sink["labels"]), "values": values}]})
    data = body.encode()
    return gzip.compress(data) if sink.get("compression") == "gzip" else data


def fluent_bit_splunk_body(records: List[Tuple[int, Dict[str, Any]]], out: Dict[str, Any],
                           env: Dict[str, str]) -> bytes:
    parts = []
    for t_ns, rec in records:
        env_obj: Dict[str, Any] = {"time": float(f"{t_ns // 10**9}.{t_ns % 10**9:09d}"),
                                   "event": rec}
        if out.get("event_source"):
            env_obj["source"] = out["event_source"]
        if out.get("event_sourcetype"):
            env_obj["sourcetype"] = out["event_sourcetype"]
        if out.get("event_index"):
            env_obj["index"] = expand_env(out["event_index"], env)
        parts.append(json.dumps(env_obj, separators=(",", ":")))
    return "".join(parts).encode()


def fluent_bit_record_accessor(record: Dict[str, Any], key: str) -> Any:
    """A key as Fluent Bit reads it: a plain name, or a record accessor (``$event['id']``)."""
    if not key.startswith("$"):
        return record[key]
    head, *rest = re.findall(r"^\$(\w+)|\['([^']+)'\]", key)
    value: Any = record[head[0]]
    for _, part in rest:
        value = value[part]
    return value


def fluent_bit_es_bulk(records: List[Tuple[int, Dict[str, Any]]], out: Dict[str, Any]) -> bytes:
    lines = []
    op = out.get("write_operation", "create")
    for t_ns, rec in records:
        meta: Dict[str, Any] = {"_index": out.get("index", "fluent-bit")}
        if out.get("id_key"):
            meta["_id"] = fluent_bit_record_accessor(rec, out["id_key"])
        if str(out.get("suppress_type_name", "off")).lower() not in ("on", "true"):
            meta["_type"] = out.get("type", "_doc")
        doc = dict(rec)
        if "@timestamp" not in doc:  # seen with 4.2.8 and 5.1.1: a record's own one is kept
            doc["@timestamp"] = ns_to_rfc3339(t_ns, 3)
        lines.append(json.dumps({op: meta}))
        lines.append(json.dumps(doc))
    return ("\n".join(lines) + "\n").encode()


def fluent_bit_loki_push(records: List[Tuple[int, Dict[str, Any]]], out: Dict[str, Any]) -> bytes:
    labels = dict(item.strip().split("=", 1) for item in out["labels"].split(","))
    values = [[str(t_ns), json.dumps(rec, separators=(",", ":"))] for t_ns, rec in records]
    return json.dumps({"streams": [{"stream": labels, "values": values}]}).encode()


def connector_command(command: str) -> Tuple[List[str], str | None]:
    """An exec input's command as argv, and the file its `2>>` appends stderr to (if any)."""
    argv = shlex.split(command)
    redirect = [a for a in argv if a.startswith("2>>")]
    return [a for a in argv if not a.startswith("2>>")], (redirect[0][3:] if redirect else None)


def expand_env(value: str, env: Dict[str, str]) -> str:
    """Fluent Bit's ${VAR} and ${VAR:-default} expansion."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
                  lambda m: env.get(m.group(1)) or (m.group(2) if m.group(2) is not None
                                                    else env[m.group(1)]), value)
