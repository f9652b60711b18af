"""One run's plan: what a run does, decided once and handed on as itself.

A :class:`RunPlan` is built once, from CLI arguments (:meth:`RunPlan.from_cli`), the DAG run's params
(:meth:`RunPlan.from_dag_params`) or JSON (:meth:`RunPlan.from_json`, how the crawl subprocess receives it), and
is frozen: the runner, the Airflow tasks and the manifests read it, nobody re-plumbs its fields. Validation and
the UTC conversion of ``since`` live here, in the model.

The DAG's params are generated from the fields marked :func:`dag_param` (:func:`dag_params`), so adding a DAG
param is adding a field here and reading it where it is used. A crawl subprocess returns a :class:`CrawlReport`
over its own channel (a result file whose path the parent passes), never on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from feedvault.config import MAX_SHARDS
from feedvault.keys import RECLEAN_LABEL, RunId, shard_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from feedvault.config import FeedConfig, Registry, Settings

PARAM = "dag_param"  # the json_schema_extra key marking a field that is also a DAG param (its JSON schema)


@dataclass(frozen=True)
class RecleanOptions:
    """What a re-clean run does (``feedvault.archive.reclean``): which feeds and capture days, dry or not."""

    feed_ids: tuple[str, ...] | None = None
    day_from: dt.date | None = None
    day_to: dt.date | None = None
    dry_run: bool = False
    run_id: RunId | None = None
    trigger: str = "reclean"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reclean": True,
            "feeds": list(self.feed_ids) if self.feed_ids else None,
            "from": self.day_from.isoformat() if self.day_from else None,
            "to": self.day_to.isoformat() if self.day_to else None,
            "dry_run": self.dry_run,
        }


class PlanError(ValueError):
    """A plan that cannot be built: one line saying which field and why."""


def dag_param(default: Any, *, title: str, description: str, **schema: Any) -> Any:
    """A plan field that is also a param of the DAG (``schema``: the Param's JSON schema: type, format, items)."""
    return Field(default, title=title, description=description, json_schema_extra={PARAM: schema})


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Shard(BaseModel):
    """One shard of a sharded feed's crawl: the entries whose normalised URL hashes to ``index`` of ``count``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    count: int = Field(ge=2, le=MAX_SHARDS)

    @model_validator(mode="after")
    def _in_range(self) -> Shard:
        if self.index >= self.count:
            raise ValueError(f"shard index {self.index} is not below the shard count {self.count}")
        return self

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/K`` (``2/4``: the third of four shards)."""
        index, _, count = text.partition("/")
        return cls(index=int(index), count=int(count))

    def owns(self, url: str) -> bool:
        return shard_of(url, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_count(feed: FeedConfig, settings: Settings, listed: int | None) -> int:
    """How many shards crawl ``feed`` this run: one per ``entries_per_shard`` of the entries it ``listed`` in its
    recent runs (none known: a new feed's first run is one task, bounded by the entry cap), at least its
    ``shards``, at most MAX_SHARDS. Decided once, at plan time, so a retried task keeps its shard."""
    per_shard = feed.entries_per_shard or settings.entries_per_shard
    by_size = -(-listed // per_shard) if listed else 1
    return max(feed.shards, min(by_size, MAX_SHARDS))


class RunPlan(BaseModel):
    """One run: which feeds, how (dry run, force, since, reclean days), its id, trigger and start time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str  # YYYYMMDDTHHMMSSZ[-label]; not given: made from started_at and the trigger
    trigger: str = "manual"
    started_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    write_run_manifest: bool = True  # False for one feed's crawl of an Airflow run: its finalize task commits
    shard: Shard | None = None  # one shard of a sharded feed's crawl (a plan of one feed, committed by another task)

    feeds: tuple[str, ...] = dag_param(
        (),
        title="Feeds",
        description="Feed ids to archive; empty = every enabled feed of the registry.",
        type="array",
        items={"type": "string"},
    )
    since: dt.datetime | None = dag_param(
        None,
        title="Since",
        description="Take feed entries published since this date (replaces the entry window).",
        type=["null", "string"],
        format="date",
    )
    force: bool = dag_param(
        False,
        title="Force re-fetch",
        description="Fetch every article again, due or not; identical pages stay unchanged (re-clean is `reclean`).",
        type="boolean",
    )
    dry_run: bool = dag_param(
        False, title="Dry run", description="Fetch and clean, write nothing, report what would be.", type="boolean"
    )
    reclean: bool = dag_param(
        False,
        title="Re-clean instead of crawling",
        description="Rebuild the feeds' clean records from their archived raw records with today's rules and "
        "learned boilerplate (feedvault reclean); nothing is fetched.",
        type="boolean",
    )
    reclean_from: dt.date | None = dag_param(
        None, title="Re-clean from", description="Captures fetched on or after.", type=["null", "string"], format="date"
    )
    reclean_to: dt.date | None = dag_param(
        None, title="Re-clean to", description="Captures fetched on or before.", type=["null", "string"], format="date"
    )

    # -- validation ----------------------------------------------------------------------------------------
    @field_validator("feeds", mode="before")
    @classmethod
    def _feed_ids(cls, value: Any) -> tuple[str, ...]:
        """Stripped, blanks dropped, duplicates dropped in order (a form's list or repeated --feed)."""
        ids = (str(v).strip() for v in value or ())
        return tuple(dict.fromkeys(i for i in ids if i))

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("not an ISO date or datetime (e.g. 2026-11-20)") from None
        return value

    @field_validator("since", "started_at")
    @classmethod
    def _in_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _utc(value) if value is not None else None  # a time without a zone is UTC

    @field_validator("reclean_from", "reclean_to", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        """Without a run id, the run is named after its start time and trigger (``20261201T020000Z-cli``)."""
        if not isinstance(data, dict) or data.get("run_id"):
            return data
        started = data.get("started_at") or dt.datetime.now(dt.UTC)
        started = _utc(dt.datetime.fromisoformat(started) if isinstance(started, str) else started)
        return {**data, "started_at": started, "run_id": RunId.new(at=started, label=data.get("trigger") or "manual")}

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id(cls, value: Any) -> str:
        return RunId(str(value)).value  # a ValueError naming the expected form

    @model_validator(mode="after")
    def _one_feed_per_shard(self) -> RunPlan:
        if self.shard is not None and (len(self.feeds) != 1 or self.write_run_manifest):
            raise ValueError(
                "a shard is one feed's crawl of a run that another task commits (one feed, no run manifest)"
            )
        return self

    @model_validator(mode="after")
    def _days_in_order(self) -> RunPlan:
        if self.reclean_from and self.reclean_to and self.reclean_from > self.reclean_to:
            raise ValueError(f"reclean_from {self.reclean_from} is after reclean_to {self.reclean_to}")
        return self

    # -- constructors --------------------------------------------------------------------------------------
    @classmethod
    def build(cls, **fields: Any) -> RunPlan:
        """The plan from ``fields``; a bad value is a :class:`PlanError` naming the field, in one line."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise PlanError(_one_line(exc)) from None

    @classmethod
    def from_json(cls, text: str) -> RunPlan:
        try:
            return cls.build(**json.loads(text))
        except json.JSONDecodeError as exc:
            raise PlanError(f"run plan: not JSON ({exc})") from None

    @classmethod
    def from_dag_params(
        cls, params: Mapping[str, Any], *, at: dt.datetime, started_at: dt.datetime | None, run_type: str
    ) -> RunPlan:
        """The plan of a DAG run: its params, its id from the logical date (or run_after) and the ``airflow`` label
        (``reclean`` for a re-clean), so every run of one logical date owns one partition."""
        values = {name: params[name] for name in param_fields() if params.get(name) is not None}
        reclean = bool(values.get("reclean"))
        return cls.build(
            **values,
            run_id=RunId.new(at=at, label=RECLEAN_LABEL if reclean else "airflow").value,
            trigger=f"airflow-{'reclean-' if reclean else ''}{run_type}",
            started_at=started_at or dt.datetime.now(dt.UTC),
        )

    @classmethod
    def from_cli(cls, args: Any, *, trigger: str = "cli") -> RunPlan:
        """The plan of ``feedvault run`` / ``python -m feedvault.crawl`` (see :func:`add_run_arguments`)."""
        fields: dict[str, Any] = {"trigger": getattr(args, "trigger", None) or trigger}
        for name in ("feeds", "since", "dry_run", "force"):
            if getattr(args, name, None) is not None:
                fields[name] = getattr(args, name)
        if getattr(args, "run_id", None):
            fields["run_id"] = str(args.run_id)
        if getattr(args, "no_run_manifest", False):
            fields["write_run_manifest"] = False
        if getattr(args, "shard", None):
            fields["shard"] = args.shard
        return cls.build(**fields)

    # -- what the run's parts read -------------------------------------------------------------------------
    @property
    def run(self) -> RunId:
        return RunId(self.run_id)

    def for_feed(self, feed_id: str, shard: Shard | None = None) -> RunPlan:
        """One feed's crawl of this run (an Airflow mapped task), or one shard of it: no run manifest."""
        return self.model_copy(update={"feeds": (feed_id,), "write_run_manifest": False, "shard": shard})

    def selected_feeds(self, registry: Registry) -> list[str]:
        """The feeds this run covers: the requested ones, else every enabled feed. A ConfigError names unknown ids."""
        from feedvault.config import ConfigError

        known = {f.id for f in registry.feeds}
        unknown = [f for f in self.feeds if f not in known]
        if unknown:
            raise ConfigError(
                f"unknown feed id(s): {', '.join(unknown)}; the registry has: {', '.join(sorted(known)) or '(none)'}"
            )
        return list(self.feeds) or [f.id for f in registry.feeds if f.enabled]

    def crawl_items(self, registry: Registry, listed: Mapping[str, int] | None = None) -> list[str]:
        """What the DAG maps one crawl task over: a feed id, or ``<feed>@<i>/<K>`` per shard of a sharded feed
        (:func:`shard_count` of the entries it ``listed`` lately), so every shard is a task of its own."""
        items = []
        for feed_id in self.selected_feeds(registry):
            count = shard_count(registry.feed(feed_id), registry.settings, (listed or {}).get(feed_id))
            items += [f"{feed_id}@{i}/{count}" for i in range(count)] if count > 1 else [feed_id]
        return items

    def for_item(self, item: str) -> RunPlan:
        """The plan of one mapped crawl task (:meth:`crawl_items`)."""
        feed_id, _, shard = item.partition("@")
        return self.for_feed(feed_id, Shard.parse(shard) if shard else None)

    def manifest_options(self) -> dict[str, Any]:
        """The run's options as its run manifest records them."""
        if self.reclean:
            return self.reclean_options().to_dict()
        return {
            "feeds": list(self.feeds) or None,
            "since": self.since.isoformat() if self.since else None,
            "dry_run": self.dry_run,
            "force": self.force,
        }

    def reclean_options(self) -> RecleanOptions:
        return RecleanOptions(
            feed_ids=self.feeds or None,
            day_from=self.reclean_from,
            day_to=self.reclean_to,
            dry_run=self.dry_run,
            run_id=self.run,
            trigger=self.trigger,
        )


def param_fields() -> dict[str, Any]:
    """The plan fields that are DAG params, by name (their pydantic FieldInfo)."""
    return {
        name: info
        for name, info in RunPlan.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and PARAM in info.json_schema_extra
    }


def dag_params(**examples: list[Any]) -> dict[str, Any]:
    """The DAG's params (``airflow.sdk.Param``), one per :func:`param_fields` field; ``examples`` by param name."""
    from airflow.sdk import Param

    params = {}
    for name, info in param_fields().items():
        schema = dict(info.json_schema_extra[PARAM])  # type: ignore[index]
        default = list(info.default) if isinstance(info.default, tuple) else info.default
        if name in examples:
            schema["examples"] = examples[name]
        params[name] = Param(default, title=info.title, description=info.description, **schema)
    return params


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options a person gives ``feedvault run`` and ``python -m feedvault.crawl`` (one definition;
    :meth:`RunPlan.from_cli` reads them). Bad values are argparse's one-line errors."""
    parser.add_argument("--feed", action="append", dest="feeds", metavar="ID", help="only this feed (repeatable)")
    parser.add_argument("--since", type=_past_date, help="take entries published since this date (replaces the window)")
    parser.add_argument("--dry-run", action="store_true", help="fetch and clean, write nothing, report what would be")
    parser.add_argument(
        "--force",
        action="store_true",
        help="fetch every article again, due or not (identical pages stay unchanged; to re-clean, use reclean)",
    )
    parser.add_argument(
        "--run-id", type=_run_id_arg, help="run id (YYYYMMDDTHHMMSSZ[-label]); re-using one replaces its partition"
    )


def _past_date(text: str) -> dt.datetime:
    try:
        value = _utc(dt.datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {text!r} (e.g. 2026-11-20)") from None
    if value > dt.datetime.now(dt.UTC):
        raise argparse.ArgumentTypeError(f"{text!r} is in the future: no entry was published since then")
    return value


def _run_id_arg(text: str) -> RunId:
    try:
        return RunId(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, e.g. {RunId.new(label='rerun')}") from None


class CrawlReport(BaseModel):
    """What a crawl subprocess hands back to its parent (through the result file the parent named)."""

    model_config = ConfigDict(frozen=True)

    exit_code: int
    error: str | None = None  # a configuration or storage error: nothing ran
    run_id: str | None = None
    manifest_key: str | None = None
    manifest: dict[str, Any] | None = None  # the run manifest (written or not)
    health_changes: list[dict[str, Any]] = Field(default_factory=list)
    storage_requests: dict[str, Any] = Field(default_factory=dict)
    would_write: dict[str, Any] | None = None  # a dry run: what it would have written

    def summary(self) -> dict[str, Any]:
        """The one-object JSON summary the runner prints on stdout for people and scripts."""
        if self.manifest is None:
            return {"error": self.error}
        return {
            "run_id": self.run_id,
            "manifest_key": self.manifest_key,
            **self.manifest,
            "health_changes": self.health_changes,
            "storage_requests": self.storage_requests,
            **({"would_write": self.would_write} if self.would_write is not None else {}),
        }

    def write(self, path: Path) -> None:
        """Write atomically: the parent reads either nothing or the whole report."""
        partial = path.with_name(path.name + ".partial")
        partial.write_text(self.model_dump_json())
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> CrawlReport | None:
        """The report at ``path``, or None when the crawl ended without writing one (killed, crashed)."""
        try:
            return cls.model_validate_json(path.read_text())
        except FileNotFoundError:
            return None


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "run plan"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message} (got {error['input']!r})" if error["loc"] else f"{where}: {message}")
    return "; ".join(parts)
