"""Read the marts from the warehouse of a dbt target (profiles.yml), with bound parameters.

One small interface over DuckDB, Postgres and Spark: `param(name)` gives the engine's
placeholder for a bound value, `relation(name)` the qualified name of a model, `frame(sql,
params)` runs a query. Values (an experiment id) are always bound, never pasted into SQL;
identifiers (column names from experiments.yml) are checked against the mart's columns first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2
import pandas as pd
import yaml

from metricbook.dbt_runner import REPO_ROOT
from metricbook.errors import WarehouseError


class Warehouse(Protocol):
    dialect: str

    def param(self, name: str) -> str: ...

    def relation(self, model: str) -> str: ...

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def write_frame(self, model: str, frame: pd.DataFrame, replace_where: Mapping[str, Any]): ...

    def close(self) -> None: ...


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise WarehouseError(f"profiles.yml needs the environment variable {name}; set it")
    return default


def profile_target(target: str | None = None, project_dir: Path = REPO_ROOT) -> dict[str, Any]:
    """The rendered output `target` of the metricbook profile (env_var() resolved as dbt does)."""
    text = (project_dir / "profiles.yml").read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["env_var"] = _env_var
    environment.filters["as_number"] = lambda value: value
    raw = yaml.safe_load(text)["metricbook"]
    name = target or raw.get("target", "duckdb")
    if name not in raw["outputs"]:
        raise WarehouseError(
            f"profiles.yml has no target '{name}' (targets: {', '.join(raw['outputs'])})"
        )

    def render(value: Any) -> Any:
        if isinstance(value, str) and "{{" in value:
            rendered = environment.from_string(value).render()
            return int(rendered) if rendered.isdigit() else rendered
        if isinstance(value, Mapping):
            return {key: render(item) for key, item in value.items()}
        return value

    return {"target_name": name, **render(raw["outputs"][name])}


@dataclass
class DuckDBWarehouse:
    path: Path
    read_only: bool = True
    dialect: str = "duckdb"

    def __post_init__(self) -> None:
        import duckdb

        if not self.path.exists():
            raise WarehouseError(f"{self.path}: no DuckDB database here; run `make build` first")
        self._con = duckdb.connect(str(self.path), read_only=self.read_only)

    def param(self, name: str) -> str:
        return f"${name}"

    def relation(self, model: str) -> str:
        return f"main.{model}"

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return self._con.execute(sql, dict(params or {})).df()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._con.execute(sql, dict(params or {}))

    def write_frame(self, model: str, frame: pd.DataFrame, replace_where: Mapping[str, Any]):
        relation = self.relation(model)
        self._con.register("metricbook_rows", frame)
        self._con.execute(
            f"create table if not exists {relation} as select * from metricbook_rows limit 0"
        )
        conditions = " and ".join(f"{column} = ${column}" for column in replace_where)
        self._con.execute(f"delete from {relation} where {conditions}", dict(replace_where))
        self._con.execute(f"insert into {relation} by name select * from metricbook_rows")
        self._con.unregister("metricbook_rows")

    def close(self) -> None:
        self._con.close()


@dataclass
class PostgresWarehouse:
    settings: Mapping[str, Any]
    dialect: str = "postgres"

    def __post_init__(self) -> None:
        import psycopg2

        try:
            self._con = psycopg2.connect(
                host=self.settings["host"],
                port=int(self.settings["port"]),
                user=self.settings["user"],
                password=self.settings["password"],
                dbname=self.settings["dbname"],
            )
        except psycopg2.OperationalError as error:
            host = f"{self.settings['host']}:{self.settings['port']}"
            raise WarehouseError(f"cannot connect to Postgres at {host}: {error}") from error
        self._con.autocommit = True
        self.schema = self.settings["schema"]

    def param(self, name: str) -> str:
        return f"%({name})s"

    def relation(self, model: str) -> str:
        return f'"{self.schema}"."{model}"'

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        with self._con.cursor() as cursor:
            cursor.execute(sql, dict(params or {}))
            columns = [d[0] for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=columns)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._con.cursor() as cursor:
            cursor.execute(sql, dict(params or {}))

    def write_frame(self, model: str, frame: pd.DataFrame, replace_where: Mapping[str, Any]):
        relation = self.relation(model)
        types = {column: _postgres_type(frame[column]) for column in frame.columns}
        columns_sql = ", ".join(f'"{column}" {kind}' for column, kind in types.items())
        self.execute(f"create table if not exists {relation} ({columns_sql})")
        conditions = " and ".join(f'"{column}" = %({column})s' for column in replace_where)
        self.execute(f"delete from {relation} where {conditions}", replace_where)
        names = ", ".join(f'"{column}"' for column in frame.columns)
        markers = ", ".join(["%s"] * len(frame.columns))
        rows = [tuple(_python_value(v) for v in row) for row in frame.itertuples(index=False)]
        with self._con.cursor() as cursor:
            cursor.executemany(f"insert into {relation} ({names}) values ({markers})", rows)

    def close(self) -> None:
        self._con.close()


@dataclass
class SparkWarehouse:
    settings: Mapping[str, Any]
    dialect: str = "spark"

    def __post_init__(self) -> None:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.enableHiveSupport()
        for key, value in (self.settings.get("server_side_parameters") or {}).items():
            builder = builder.config(key, str(value))
        self._spark = builder.getOrCreate()
        self.schema = self.settings["schema"]

    def param(self, name: str) -> str:
        return f":{name}"

    def relation(self, model: str) -> str:
        return f"`{self.schema}`.`{model}`"

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        result = self._spark.sql(sql, args=dict(params or {}))
        return pd.DataFrame(result.collect(), columns=result.columns)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._spark.sql(sql, args=dict(params or {})).collect()

    def write_frame(self, model: str, frame: pd.DataFrame, replace_where: Mapping[str, Any]):
        relation = self.relation(model)
        rows = self._spark.createDataFrame(frame.astype(object).where(frame.notna(), None))
        if self._spark.catalog.tableExists(f"{self.schema}.{model}"):
            conditions = " and ".join(f"{column} = :{column}" for column in replace_where)
            kept = self._spark.sql(
                f"select * from {relation} where not ({conditions})", args=dict(replace_where)
            )
            rows = kept.unionByName(rows).localCheckpoint()
        rows.write.mode("overwrite").saveAsTable(f"{self.schema}.{model}")

    def close(self) -> None:
        pass  # the session belongs to the process; stopping it would break a caller's session


def _postgres_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "bigint"
    if pd.api.types.is_float_dtype(values):
        return "double precision"
    return "text"


def _python_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def connect(
    target: str | None = None, project_dir: Path = REPO_ROOT, writable: bool = False
) -> Warehouse:
    """A warehouse for a dbt target of profiles.yml (default: the profile's default target).
    DuckDB opens read-only unless `writable` (a read-only handle can share the file)."""
    settings = profile_target(target, project_dir)
    kind = settings["type"]
    if kind == "duckdb":
        path = Path(settings["path"])
        path = path if path.is_absolute() else project_dir / path
        return DuckDBWarehouse(path, read_only=not writable)
    if kind == "postgres":
        return PostgresWarehouse(settings)
    if kind == "spark":
        return SparkWarehouse(settings)
    raise WarehouseError(f"target type '{kind}' is not supported (duckdb, postgres, spark)")


@contextmanager
def connected(
    target: str | None = None, project_dir: Path = REPO_ROOT, writable: bool = False
) -> Iterator[Warehouse]:
    warehouse = connect(target, project_dir, writable)
    try:
        yield warehouse
    finally:
        warehouse.close()
