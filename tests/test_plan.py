"""The run plan (feedvault.crawl.plan): one typed, frozen contract from CLI arguments, DAG params or JSON to the
crawl subprocess and back, its report coming over its own channel (a result file), not stdout."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from feedvault.config import MAX_SHARDS, Registry, StorageSettings
from feedvault.crawl.plan import CrawlReport, PlanError, RunPlan, add_run_arguments, param_fields
from tests.support.airflow import load_dag
from tests.support.crawl import PERMISSION, REPO, crawl_env, feed, write_registry

AT = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)


def cli_plan(*argv: str) -> RunPlan:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return RunPlan.from_cli(parser.parse_args(argv), trigger="cli")


def test_every_dag_param_is_a_plan_field_and_back(airflow_db, monkeypatch, tmp_path):
    """Adding a DAG param is adding a plan field: the DAG's params are exactly the plan's param fields, with the
    field's default, title and description, and a run with the form's defaults plans what the plan defaults to."""
    registry = write_registry(
        tmp_path / "feeds.yaml", StorageSettings(uri="s3://bucket/archive"), [feed("alpha", "http://127.0.0.1:9/f.xml")]
    )
    monkeypatch.setenv("FEEDVAULT_REGISTRY", str(registry))
    params = load_dag().params
    fields = param_fields()
    assert set(params) == set(fields)
    for name, info in fields.items():
        param = params.get_param(name)
        default = list(info.default) if isinstance(info.default, tuple) else info.default
        assert param.value == default and param.schema["title"] == info.title, name
        assert param.description == info.description, name
    planned = RunPlan.from_dag_params(params.dump(), at=AT, started_at=AT, run_type="manual")
    assert planned == RunPlan(run_id="20261126T020000Z-airflow", trigger="airflow-manual", started_at=AT)
    changed = {"feeds": ["alpha"], "since": "2026-11-20", "force": True, "dry_run": True}
    changed |= {"reclean": True, "reclean_from": "2026-11-01", "reclean_to": "2026-11-02"}
    assert set(changed) == set(fields), "each param must be set here to prove it reaches the plan"
    planned = RunPlan.from_dag_params({**params.dump(), **changed}, at=AT, started_at=AT, run_type="manual")
    for name in fields:
        assert getattr(planned, name) != getattr(RunPlan(run_id="20261126T020000Z"), name), name


def test_since_is_utc_whichever_door_it_came_in_by():
    midnight = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert cli_plan("--since", "2026-11-20").since == midnight
    assert cli_plan("--since", "2026-11-20T07:00+07:00").since == midnight
    assert RunPlan.from_dag_params({"since": "2026-11-20"}, at=AT, started_at=None, run_type="x").since == midnight
    assert RunPlan.build(since=dt.date(2026, 11, 20)).since == midnight
    assert RunPlan.from_json(json.dumps({"run_id": "20261126T020000Z", "since": "2026-11-20T00:00"})).since == midnight
    assert RunPlan.build(started_at="2026-11-26T09:00+07:00").started_at == AT


def test_a_plan_crosses_json_as_itself_and_cannot_be_changed():
    plan = cli_plan("--feed", "b", "--feed", "a", "--feed", "b", "--since", "2026-11-20", "--force", "--dry-run")
    assert plan.feeds == ("b", "a") and plan.trigger == "cli" and plan.run_id.endswith("-cli")
    assert RunPlan.from_json(plan.model_dump_json()) == plan
    with pytest.raises(Exception, match="frozen"):
        plan.force = False  # type: ignore[misc]
    one = plan.for_feed("a")
    assert (one.feeds, one.write_run_manifest, one.run_id, one.force) == (("a",), False, plan.run_id, True)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"run_id": "2026-11-26"}, "run_id: invalid run id '2026-11-26'"),
        ({"since": "yesterday"}, "since: not an ISO date or datetime"),
        ({"reclean_from": "2026-11-27", "reclean_to": "2026-11-26"}, "reclean_from 2026-11-27 is after reclean_to"),
        ({"forse": True}, "forse: Extra inputs are not permitted"),
    ],
)
def test_a_bad_plan_is_one_line_naming_the_field(fields, says):
    with pytest.raises(PlanError) as raised:
        RunPlan.build(**fields)
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_the_crawl_subprocess_takes_the_plan_as_json_and_reports_in_its_result_file(tmp_path: Path):
    """What Airflow's task does: the plan in (``--plan-json``), a typed report back in the file it names; stdout
    carries no summary for a parent to pick lines from. A feed without valid permission runs without network."""
    storage = StorageSettings(uri=(tmp_path / "archive").as_uri())
    lapsed = {**PERMISSION, "expires_on": "2026-01-31"}
    registry = write_registry(
        tmp_path / "feeds.yaml", storage, [feed("f1", "http://127.0.0.1:9/f.xml", permission=lapsed)]
    )
    plan = RunPlan.build(run_id="20261126T020000Z-airflow", feeds=["f1"], force=True, trigger="airflow-manual")
    result_file = tmp_path / "report.json"
    command = [sys.executable, "-m", "feedvault.crawl", "--registry", str(registry)]
    command += ["--plan-json", plan.for_feed("f1").model_dump_json(), "--result-file", str(result_file)]
    proc = subprocess.run(command, env=crawl_env(None), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "{" not in proc.stdout
    report = CrawlReport.read(result_file)
    assert report is not None and report.exit_code == 0 and report.run_id == plan.run_id
    assert report.manifest is not None and report.manifest_key is None  # its run manifest is another task's
    assert report.manifest["options"] == {"feeds": ["f1"], "since": None, "dry_run": False, "force": True}
    assert [f["status"] for f in report.manifest["feeds"]] == ["refused"]

    bad = subprocess.run(
        [*command[:5], "--plan-json", '{"run_id": "nope"}', "--result-file", str(tmp_path / "bad.json")],
        env=crawl_env(None),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = CrawlReport.read(tmp_path / "bad.json")
    assert bad.returncode == 2 and report is not None and "run_id: invalid run id 'nope'" in (report.error or "")
    assert CrawlReport.read(tmp_path / "never-written.json") is None


def test_a_feed_is_sharded_by_the_entries_it_listed_lately_within_its_floor_and_the_ceiling():
    """One task per ``entries_per_shard`` entries the feed listed (a feed's own threshold over the settings'),
    never fewer than its ``shards``, never more than MAX_SHARDS; a feed without history is one task."""
    registry = Registry.model_validate(
        {
            "settings": {"entries_per_shard": 1000},
            "feeds": [
                {"id": "small", "publisher": "P", "urls": ["http://127.0.0.1:9/a.xml"]},
                {"id": "big", "publisher": "P", "urls": ["http://127.0.0.1:9/b.xml"]},
                {"id": "own", "publisher": "P", "urls": ["http://127.0.0.1:9/c.xml"], "entries_per_shard": 100},
                {"id": "floor", "publisher": "P", "urls": ["http://127.0.0.1:9/d.xml"], "shards": 3},
                {"id": "huge", "publisher": "P", "urls": ["http://127.0.0.1:9/e.xml"]},
            ],
        }
    )
    plan = RunPlan.build(run_id="20261126T020000Z")
    listed = {"small": 1000, "big": 2500, "own": 250, "floor": 10, "huge": 10**7}
    items = plan.crawl_items(registry, listed)
    by_feed: dict[str, list[str]] = {}
    for item in items:
        by_feed.setdefault(item.partition("@")[0], []).append(item)
    assert by_feed["small"] == ["small"]
    assert by_feed["big"] == ["big@0/3", "big@1/3", "big@2/3"]
    assert by_feed["own"] == ["own@0/3", "own@1/3", "own@2/3"]
    assert len(by_feed["floor"]) == 3
    assert len(by_feed["huge"]) == MAX_SHARDS
    assert plan.crawl_items(registry)[:2] == ["small", "big"], "no history: one task per feed"
    assert [plan.for_item(i).shard for i in by_feed["big"]][1].count == 3
