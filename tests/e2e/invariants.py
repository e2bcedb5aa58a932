"""The invariant over the emulator's state after the whole suite (issue 13): exactly-once
effects end to end, whatever faults the scenarios injected.

* every SETTLED item has exactly one receipt (one object, one S3 version) and at least one
  announcement with its id; no receipt or announcement without a SETTLED item;
* every accepted request (every 200, 502 or 504 answer) is settled, declined, or alerted;
* no settled payment is still waiting for its receipt, and the reconciler finds nothing stale.
"""

import re

from world import attribute, wait_for

RECEIPT_KEY = re.compile(r"^receipts/(?P<merchant>[^/]+)/(?P<tid>[^/]+)\.json$")


def check_all(ctx):
    world, api, check = ctx.world, ctx.api, ctx.results.check
    # The stream's last deliveries, first: the outbox drains within seconds once faults are gone.
    left = wait_for(lambda: not world.pending(), 30)
    pending = world.pending()
    check("30 the outbox drained: no settled payment still pending its receipt", f"{len(pending)} pending",
          left and not pending)
    for tid in pending[:5]:
        item = world.item(tid) or {}
        print(f"   pending {tid}: {sorted(item)} status {item.get('status')} receipts {world.receipts(tid)} "
              f"announcements {len(world.announcements(tid))} created_at {item.get('created_at')}", flush=True)
    items = world.items()
    status = {i["transaction_id"]["S"]: i["status"]["S"] for i in items}
    settled = {t for t, s in status.items() if s == "SETTLED"}
    other = sorted({s for s in status.values()} - {"SETTLED", "DECLINED"})
    receipts = {}
    strays = []
    for key, versions in world.receipt_versions().items():
        match = RECEIPT_KEY.match(key)
        if not match:
            strays.append(key)
            continue
        receipts.setdefault(match.group("tid"), []).append(versions)
    announced = {}
    for message in world.announcements():
        tid = attribute(message, "transaction_id")
        announced[tid] = announced.get(tid, 0) + 1
    not_once = sorted(t for t in settled if receipts.get(t) != [1])
    unannounced = sorted(t for t in settled if not announced.get(t))
    orphans = sorted(set(receipts) - settled) + strays
    orphan_announcements = sorted(set(announced) - settled)
    check("31 every SETTLED item has exactly one receipt (one version) and at least one announcement",
          f"{len(settled)} settled: {len(not_once)} without exactly one receipt, {len(unannounced)} unannounced",
          settled and not not_once and not unannounced)
    check("31 no receipt or announcement without a SETTLED item; no item left in another state",
          f"{len(orphans)} receipts and {len(orphan_announcements)} announcements without one; other states {other}",
          not orphans and not orphan_announcements and not other)
    accepted = {}
    for tid, answer in api.sent:
        if tid and answer.status in (200, 502, 504):
            accepted.setdefault(tid, []).append(answer.status)
    alerted = {t for t in accepted if world.alerts(t)}
    lost = sorted(t for t in accepted if status.get(t) not in ("SETTLED", "DECLINED") and t not in alerted)
    check("32 every accepted request (200, 502, 504) is settled, declined or alerted",
          f"{len(accepted)} accepted payments, {len(lost)} neither recorded nor alerted", accepted and not lost)
    if not_once or unannounced or orphans or orphan_announcements or lost or other:
        print(f"   not once: {not_once[:5]} unannounced: {unannounced[:5]} orphans: {orphans[:5]} "
              f"orphan announcements: {orphan_announcements[:5]} lost: {lost[:5]} "
              f"in another state: {[t for t, s in status.items() if s not in ('SETTLED', 'DECLINED')][:5]}", flush=True)
        for tid in lost[:3]:
            print(f"   lost {tid}: answers {[(a.status, a.get('error') or a.get('outcome')) for t, a in api.sent if t == tid]}"
                  f", executions {world.executions().get(tid)}", flush=True)
    # The strictest run: {"older_than_seconds": 0} counts every settled payment still pending,
    # however recent (the schedule's own runs, with their 600 s grace, would see nothing here
    # whatever happened in a run this short).
    error, report = world.invoke("ReconcilerFunction", {"older_than_seconds": 0})
    report = report if isinstance(report, dict) else {"answer": report}
    check("33 the reconciler, run once after the suite with no grace period, finds nothing stale",
          f"stale={report.get('stale')} retriggered={len(report.get('retriggered') or [])}"
          + (f" (function error {error}: {str(report)[:120]})" if error else ""),
          error is None and report.get("stale") == 0 and report.get("retriggered") == [])
