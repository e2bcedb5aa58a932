"""CloudWatch Logs Insights, for the queries the template saves: the end-to-end suite runs each
saved query over the log lines the functions really wrote during the run, so a query whose
fields do not exist in those lines returns no rows and fails the suite (review M8: the saved
queries read `outcome`, while the functions log `fields.outcome`).

Only the commands and functions the template's queries use are implemented; anything else is
an error, never a silent empty result. Semantics follow the query syntax reference:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html
- JSON log events are flattened: nested keys are addressed with dots (`fields.outcome`)
  ("CloudWatch Logs Insights automatically discovers fields in logs ... JSON");
- `@timestamp`, `@log` (the log group) and `@message` (the raw line) exist on every event;
- `ispresent(f)` is true when the field exists; comparing a missing field is false;
- `stats ... by` groups, `bin(5m)` buckets `@timestamp`, `pct(f, p)` is a percentile.
"""

import json
import math
import re

COMMANDS = ("fields", "filter", "stats", "sort", "limit", "display")
AGGREGATES = ("count", "sum", "avg", "min", "max", "pct")


class QueryError(ValueError):
    """The query uses syntax this emulation does not know (so it cannot vouch for it)."""


def flatten(value, prefix="", out=None):
    """JSON as Logs Insights discovers it: nested keys joined with dots."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = value
    return out


def event(log_group, timestamp_ms, line):
    """A log event as Insights sees it."""
    fields = {"@timestamp": timestamp_ms, "@log": log_group, "@message": line}
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        fields.update(flatten(parsed))
    return fields


def split_top(text, separator):
    """Splits on `separator` outside parentheses, quotes and /regex/."""
    parts, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'/":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


FIELD = r"@?[A-Za-z_][A-Za-z0-9_.]*"


def parse_value(text):
    text = text.strip()
    if text.startswith(('"', "'")):
        return text[1:-1]
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise QueryError(f"not a literal: {text}") from None


def compile_condition(text):
    """A filter expression as a predicate over an event."""
    text = text.strip()
    for word in (" or ", " and "):
        parts = split_top(text, word)
        if len(parts) > 1:
            predicates = [compile_condition(p) for p in parts]
            if word == " or ":
                return lambda e: any(p(e) for p in predicates)
            return lambda e: all(p(e) for p in predicates)
    if text.startswith("not "):
        inner = compile_condition(text[4:])
        return lambda e: not inner(e)
    if text.startswith("(") and text.endswith(")"):
        return compile_condition(text[1:-1])
    match = re.fullmatch(rf"ispresent\(({FIELD})\)", text)
    if match:
        name = match.group(1)
        return lambda e: name in e
    match = re.fullmatch(rf"({FIELD})\s+like\s+/(.*)/", text)
    if match:
        name, pattern = match.group(1), re.compile(match.group(2))
        return lambda e: name in e and bool(pattern.search(str(e[name])))
    match = re.fullmatch(rf"({FIELD})\s*(=|!=|<=|>=|<|>)\s*(.+)", text)
    if match:
        name, operator, literal = match.group(1), match.group(2), parse_value(match.group(3))
        compare = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }[operator]
        return lambda e: name in e and _comparable(e[name], literal) and compare(e[name], literal)
    raise QueryError(f"unsupported filter: {text}")


def _comparable(value, literal):
    return isinstance(value, str) == isinstance(literal, str) and not isinstance(value, (dict, list))


def bin_of(spec):
    match = re.fullmatch(r"bin\((\d+)([smhd])\)", spec)
    if not match:
        raise QueryError(f"unsupported grouping: {spec}")
    size = int(match.group(1)) * {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[match.group(2)]
    return lambda e: e["@timestamp"] // size * size


def aggregate(spec):
    """(output name, function over the group's events) of one `stats` term."""
    match = re.fullmatch(r"(\w+)\((.*?)\)(?:\s+as\s+(\w+))?", spec.strip(), re.S)
    if not match or match.group(1) not in AGGREGATES:
        raise QueryError(f"unsupported aggregate: {spec}")
    function, arguments, alias = match.group(1), [a.strip() for a in match.group(2).split(",")], match.group(3)
    name = alias or spec.strip()
    field = arguments[0]
    if function == "count":
        if field == "*":
            return name, len
        return name, lambda events: sum(1 for e in events if field in e)

    def values(events):
        return sorted(e[field] for e in events if isinstance(e.get(field), (int, float)))

    if function == "pct":
        percentile = float(arguments[1])

        def pct(events):
            found = values(events)
            return found[max(0, math.ceil(percentile / 100 * len(found)) - 1)] if found else None

        return name, pct
    reducers = {
        "sum": lambda v: sum(v) if v else None,
        "avg": lambda v: sum(v) / len(v) if v else None,
        "min": lambda v: v[0] if v else None,
        "max": lambda v: v[-1] if v else None,
    }
    return name, lambda events: reducers[function](values(events))


def run(query, events):
    """Runs a query over events; returns its result rows (dicts)."""
    rows = list(events)
    grouped = False
    for command in split_top(query, "|"):
        verb, _, rest = command.partition(" ")
        verb = verb.strip()
        if verb not in COMMANDS:
            raise QueryError(f"unsupported command: {verb}")
        if verb in ("fields", "display"):
            names = [n.strip() for n in rest.split(",")]
            for name in names:
                if not re.fullmatch(FIELD, name):
                    raise QueryError(f"unsupported field expression: {name}")
            if verb == "display":
                rows = [{n: r[n] for n in names if n in r} for r in rows]
        elif verb == "filter":
            predicate = compile_condition(rest)
            rows = [r for r in rows if predicate(r)]
        elif verb == "stats":
            if grouped:
                raise QueryError("a second stats command")
            grouped = True
            terms, _, by = rest.partition(" by ")
            aggregates = [aggregate(t) for t in split_top(terms, ",")]
            keys = []
            for spec in split_top(by, ",") if by else []:
                if spec.startswith("bin("):
                    keys.append((spec, bin_of(spec)))
                elif re.fullmatch(FIELD, spec):
                    keys.append((spec, lambda e, s=spec: e.get(s)))
                else:
                    raise QueryError(f"unsupported grouping: {spec}")
            groups = {}
            for row in rows:
                groups.setdefault(tuple(k(row) for _, k in keys), []).append(row)
            rows = []
            for key, members in groups.items():
                result = {name: value for (name, _), value in zip(keys, key, strict=True)}
                result.update({name: function(members) for name, function in aggregates})
                rows.append(result)
        elif verb == "sort":
            match = re.fullmatch(rf"({FIELD})(?:\s+(asc|desc))?", rest.strip())
            if not match:
                raise QueryError(f"unsupported sort: {rest}")
            name, descending = match.group(1), match.group(2) == "desc"
            rows.sort(key=lambda r: (r.get(name) is None, r.get(name)), reverse=descending)
        elif verb == "limit":
            rows = rows[: int(rest)]
    return rows
