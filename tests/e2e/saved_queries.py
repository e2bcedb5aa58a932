"""Every saved Logs Insights query of the template (AWS::Logs::QueryDefinition), run with
tools/emulator/logs_insights.py over the lines the functions wrote during this run (one file
per function under work_dir/logs, the function's log group as the template wires it). Each
must return at least one row: a query that finds nothing on real log lines is a finding
about the template or the code (review M8, issue 14), never a reason to weaken the check."""

import datetime
import json
import os

import yaml

import logs_insights


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            return {name: value.split(".", 1) if name == "Fn::GetAtt" else value}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    return construct


for _tag, _name in (("!Ref", "Ref"), ("!GetAtt", "Fn::GetAtt"), ("!Sub", "Fn::Sub")):
    _Loader.add_constructor(_tag, _intrinsic(_name))


def template_resources(repo):
    with open(os.path.join(repo, "templates", "payment-workflow.yaml")) as f:
        return yaml.load(f, Loader=_Loader)["Resources"]


def function_log_files(resources, world):
    """Log group logical id -> the log file of the function that writes to it."""
    files = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        group = ((resource["Properties"].get("LoggingConfig") or {}).get("LogGroup") or {}).get("Ref")
        if group and logical_id in world.functions:
            files[group] = world.log_path(world.function(logical_id))
    return files


def events_of(log_group_name, path):
    """Log events as Insights sees them; a line's time is its `time` field (Lambda's system
    records) or, for the runtime's lines (written without a time), the file's last write."""
    if not os.path.exists(path):
        return []
    default_ms = int(os.path.getmtime(path) * 1000)
    found = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            timestamp = default_ms
            try:
                parsed = json.loads(line)
                if isinstance(parsed, dict) and isinstance(parsed.get("time"), str):
                    timestamp = int(datetime.datetime.fromisoformat(parsed["time"].replace("Z", "+00:00")).timestamp() * 1000)
            except ValueError:
                pass
            found.append(logs_insights.event(log_group_name, timestamp, line))
    return found


def run_all(ctx, repo):
    world, check = ctx.world, ctx.results.check
    resources = template_resources(repo)
    files = function_log_files(resources, world)
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Logs::QueryDefinition":
            continue
        properties = resource["Properties"]
        events, unresolved = [], []
        for group in properties.get("LogGroupNames", []):
            group_id = group.get("Ref") if isinstance(group, dict) else None
            if group_id not in files:
                unresolved.append(str(group))
                continue
            events.extend(events_of(world.resources.get(group_id, (None, group_id))[1], files[group_id]))
        try:
            rows = logs_insights.run(properties["QueryString"], events)
            error = None
            absent = absent_group_fields(properties["QueryString"], events)
        except logs_insights.QueryError as err:
            rows, error, absent = [], str(err), []
        if rows:
            print(f"   {logical_id}: {len(rows)} rows, e.g. {rows[0]}", flush=True)
        else:
            kinds = sorted({str(e.get("type") or e.get("level")) for e in events})
            print(f"   {logical_id}: no rows over {len(events)} lines (their type/level values: {kinds})", flush=True)
        evidence = ("rows" if rows else "no rows") + f" over {len(properties.get('LogGroupNames', []))} log groups"
        if absent:
            evidence += f"; {', '.join(absent)} absent from every line it groups"
        if unresolved:
            evidence += f"; unresolved groups {unresolved}"
        if error:
            evidence += f"; query error: {error}"
        check(f"29 saved query {logical_id} returns rows, grouped by fields the functions' real log lines have",
              evidence, rows and not absent and not unresolved and not error)


def absent_group_fields(query, events):
    """The `stats ... by` fields (not @-fields, not bin()) that no line reaching the stats has:
    a query can return rows and still group everything under "null" (review M8)."""
    commands = logs_insights.split_top(query, "|")
    for position, command in enumerate(commands):
        verb, _, rest = command.partition(" ")
        if verb != "stats" or " by " not in rest:
            continue
        reaching = logs_insights.run(" | ".join(commands[:position]), events) if position else list(events)
        fields = [f.strip() for f in logs_insights.split_top(rest.partition(" by ")[2], ",")]
        return [f for f in fields if not f.startswith(("@", "bin(")) and not any(f in e for e in reaching)]
    return []
