"""A labelling team against one database: writes/s, latency, and the checks (prints them; not a test).

    python benchmarks/team.py [--seconds 120] [--annotators 8] [--images 40] [--db postgres|sqlite]

Eight simulated annotators (threads, each with its own database connections, through the core
API the Label page and its HTTP routes call) label the same dataset at once, each in its own loop:
log in (argon2, once), then until time is up: check the session (what the login gate does on
every request), lease the next image to do (``leases.claim_next``: compare-and-set), add 1-3
draft annotations (``annotations.add_annotation``, author = the login), accept one draft of an
earlier visit with the version it read (``update_annotation(expected_version=...)``), release the
image. Images with drafts stay "to do", so the queue never runs dry.

The database is a throw-away PostgreSQL server started the way the test suite does
(tests/postgres.py: ``initdb`` + ``pg_ctl`` on a free loopback port; fsync off, as there), or a
SQLite file with ``--db sqlite``. Every process it starts ends with it.

Checks, printed with the figures (the script exits 1 if one fails):
- no annotation lost or duplicated: the rows in the database are exactly the ones the
  annotators were told were written (ids), each client tag once (the tag rides in ``score``);
- no lost update: each annotation's version is 1 + the updates its writer saw succeed;
- no image labelled by two people at once: per image, the intervals during which each
  annotator held it (from the lease to the release, measured in-process) never overlap between
  two annotators, and every write of an annotator lies within one of their own intervals;
- no lease left behind.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PASSWORD = "benchmark password"


@dataclass
class Log:
    """One annotator's record of what happened (monotonic times, this process)."""

    name: str
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # op -> seconds
    holds: list[tuple[int, float, float]] = field(default_factory=list)  # image, start, end
    writes: list[tuple[int, float]] = field(default_factory=list)  # image, time
    added: dict[int, float] = field(default_factory=dict)  # annotation id -> tag
    updates: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # annotation id -> successful updates
    stale: int = 0
    idle: int = 0  # "next to do" found nothing free
    errors: list[str] = field(default_factory=list)


def timed(log: Log, op: str, call, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        log.timings[op].append(time.perf_counter() - start)


def annotator(n: int, deadline: float, shapes: dict[int, tuple[int, int]], class_ids: list[int], log: Log) -> None:
    from studio import annotations as ann
    from studio import leases, sessions, users

    rng = random.Random(n)
    user = timed(log, "login (argon2)", users.authenticate, log.name, PASSWORD, f"10.0.0.{n}")
    token, _ = sessions.issue(user)
    mine: list[tuple[int, int]] = []  # (annotation id, version) of my drafts to accept later
    current = None
    counter = 0
    while time.monotonic() < deadline:
        try:
            if timed(log, "session check", sessions.session_user, token) is None:
                raise RuntimeError("session lost")
            item = timed(log, "lease next image", leases.claim_next, log.name, "shelves", after=current)
            if item is None:
                log.idle += 1
                time.sleep(0.02)
                continue
            start = time.monotonic()
            height, width = shapes[item.id]
            for _ in range(rng.randint(1, 3)):
                counter += 1
                tag = float(n * 1_000_000 + counter)
                mask = np.zeros((height, width), bool)
                x, y = rng.randrange(0, width - 24), rng.randrange(0, height - 24)
                mask[y : y + rng.randint(8, 24), x : x + rng.randint(8, 24)] = True
                aid = timed(log, "add annotation", ann.add_annotation, image_id=item.id, class_id=rng.choice(class_ids),
                            mask=mask, source="sam", status="draft", author=log.name, seconds_spent=1.0, score=tag)
                log.writes.append((item.id, time.monotonic()))
                log.added[aid] = tag
                mine.append((aid, 1))
            if len(mine) > 3:  # accept a draft from an earlier visit, with the version I read then
                aid, version = mine.pop(0)
                try:
                    new_version = timed(log, "accept (versioned update)", ann.update_annotation, aid, status="accepted",
                                        expected_version=version, editor=log.name)
                    log.updates[aid] += 1
                    assert new_version == version + 1
                except ann.StaleEdit:
                    log.stale += 1
            end = time.monotonic()
            log.holds.append((item.id, start, end))
            timed(log, "release", leases.release, item.id, log.name)
            current = item.id
        except Exception as exc:  # noqa: BLE001 - recorded and reported: a benchmark must say what broke
            log.errors.append(f"{type(exc).__name__}: {exc}")
            if len(log.errors) > 20:
                return


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def check(logs: list[Log]) -> list[tuple[str, bool, str]]:
    """The checks of the module docstring: (what, passed, detail)."""
    from sqlmodel import select

    from studio.db import session_scope
    from studio.tables import Annotation, Lease

    with session_scope() as session:
        rows = session.exec(select(Annotation.id, Annotation.score, Annotation.version, Annotation.author)).all()
        leases_left = len(session.exec(select(Lease)).all())
    told = {aid: tag for log in logs for aid, tag in log.added.items()}
    stored = {aid: score for aid, score, _, _ in rows}
    lost = sorted(set(told) - set(stored))
    extra = sorted(set(stored) - set(told))
    tags = [score for _, score, _, _ in rows]
    duplicated = len(tags) - len(set(tags))
    wrong_tag = [aid for aid in told if aid in stored and stored[aid] != told[aid]]
    updates = defaultdict(int)
    for log in logs:
        for aid, k in log.updates.items():
            updates[aid] += k
    versions = {aid: version for aid, _, version, _ in rows}
    lost_updates = [aid for aid in told if aid in versions and versions[aid] != 1 + updates[aid]]
    by_image: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for log in logs:
        for image_id, start, end in log.holds:
            by_image[image_id].append((start, end, log.name))
    overlaps = 0
    for intervals in by_image.values():
        intervals.sort()
        for (s1, e1, a), (s2, e2, b) in zip(intervals, intervals[1:]):
            if a != b and s2 < e1:
                overlaps += 1
    outside = 0
    for log in logs:
        own = defaultdict(list)
        for image_id, start, end in log.holds:
            own[image_id].append((start, end))
        outside += sum(not any(s <= t <= e for s, e in own[image_id]) for image_id, t in log.writes)
    return [
        ("annotations lost (told written, not in the database)", not lost, f"{len(lost)} of {len(told)}"),
        ("annotations in the database nobody wrote", not extra, str(len(extra))),
        ("duplicated annotations (a client tag twice)", duplicated == 0 and not wrong_tag, str(duplicated)),
        ("lost updates (version != 1 + updates seen)", not lost_updates, str(len(lost_updates))),
        ("images held by two annotators at once", overlaps == 0, str(overlaps)),
        ("writes outside the writer's own lease", outside == 0, str(outside)),
        ("leases left behind", leases_left == 0, str(leases_left)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the team labels")
    parser.add_argument("--annotators", type=int, default=8)
    parser.add_argument("--images", type=int, default=40, help="images in the dataset (320x240 demo scenes)")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()

    from studio.config import folder_env, get_settings

    root = Path(tempfile.mkdtemp(prefix="studio-team-"))
    os.environ.update(folder_env(root))
    server = None
    if args.db == "postgres":
        from tests import postgres

        server = postgres.PostgresServer()
        os.environ["STUDIO_DB_URL"] = server.database(root, migrated=False)
    get_settings.cache_clear()
    try:
        return run(args, root)
    finally:
        if server is not None:
            server.stop()


def run(args: argparse.Namespace, root: Path) -> int:
    from studio import annotations as ann
    from studio import users
    from studio.classes import list_classes
    from studio.config import get_settings
    from studio.datasets import ingest_doc
    from studio.db import migrate
    from studio.demo import generate_demo

    migrate()
    doc = generate_demo(root / "demo", n_images=args.images, seed=7, width=320, height=240)
    doc.annotations = []
    ingest_doc(doc, dataset="shelves")
    items = ann.image_queue("shelves")
    shapes = {i.id: (i.height, i.width) for i in items}
    class_ids = [c.id for c in list_classes(dataset="shelves")]
    names = [f"annotator{n}" for n in range(args.annotators)]
    for name in names:
        users.create_user(name=name, role="annotator", password=PASSWORD)
    logs = [Log(name) for name in names]
    deadline = time.monotonic() + args.seconds
    threads = [threading.Thread(target=annotator, args=(n, deadline, shapes, class_ids, log), daemon=True)
               for n, log in enumerate(logs)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.seconds + 120)
    elapsed = time.monotonic() - start

    db = get_settings().db_url.split("://", 1)[0]
    load = os.getloadavg()[0]
    print(f"\n{args.annotators} annotators, {args.images} images, {elapsed:.0f} s, database {db}, "
          f"{os.cpu_count()} CPU(s), load average {load:.1f}\n")
    print("| operation | count | per second | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|---:|")
    ops: dict[str, list[float]] = defaultdict(list)
    for log in logs:
        for op, values in log.timings.items():
            ops[op].extend(values)
    writes = ops["add annotation"] + ops["accept (versioned update)"]
    for op, values in [*ops.items(), ("annotation writes (add + accept)", writes)]:
        print(f"| {op} | {len(values)} | {len(values) / elapsed:.1f} | {1000 * percentile(values, 50):.1f} | "
              f"{1000 * percentile(values, 95):.1f} |")
    visits = sum(len(log.holds) for log in logs)
    print(f"\nimages visited {visits} ({visits / elapsed:.1f}/s); 'next to do' found nothing free "
          f"{sum(log.idle for log in logs)} times; stale edits refused {sum(log.stale for log in logs)}")
    failed = False
    print("\n| check | result | |\n|---|---|---:|")
    for what, passed, detail in check(logs):
        failed |= not passed
        print(f"| {what} | {'ok' if passed else 'FAILED'} | {detail} |")
    errors = [e for log in logs for e in log.errors]
    if errors:
        failed = True
        print(f"\n{len(errors)} errors, first: {errors[:3]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
