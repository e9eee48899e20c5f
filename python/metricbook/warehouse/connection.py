"""Read the marts from the warehouse of a dbt target (profiles.yml), with bound parameters.

One small interface over DuckDB, Postgres and Spark: `param(name)` gives the engine's
placeholder for a bound value, `relation(name)` the qualified name of a model, `frame(sql,
params)` runs a query. Values (an experiment id) are always bound, never pasted into SQL;
identifiers (column names from experiments.yml) are checked against the mart's columns first.

Opening is the boundary where the user's setup shows: a missing or damaged DuckDB file, a file
locked by a running `dbt build`, an unreachable Postgres, a profile that does not render. Each
is a WarehouseError naming the path or host and what to do. A read-only open never creates or
changes the user's file. `check_build` reads the build log the dbt hooks write
(macros/hooks/) and says when the marts come from a failed, killed or partial build.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import jinja2
import yaml

from metricbook.errors import ConfigError, WarehouseError
from metricbook.warehouse.dbt_runner import REPO_ROOT

if TYPE_CHECKING:  # pandas loads when a frame is read, so the CLI's --help stays light
    import pandas as pd

ColumnKind = Literal["text", "bigint", "double", "boolean"]
BUILD_LOG = "metricbook_build_log"
INVOCATION_NODE = "__invocation__"
UPSTREAM_PATHS = ("models/staging/", "models/intermediate/")
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


class Warehouse(Protocol):
    dialect: str
    location: str

    def param(self, name: str) -> str: ...

    def relation(self, model: str) -> str: ...

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def existing_relations(self, models: Iterable[str]) -> set[str]: ...

    def column_types(self, model: str) -> dict[str, str]: ...

    def write_rows(
        self,
        model: str,
        columns: Sequence[tuple[str, ColumnKind]],
        rows: Sequence[Mapping[str, Any]],
        replace_where: Mapping[str, Any],
    ) -> None: ...

    def close(self) -> None: ...


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# profiles.yml


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise WarehouseError(f"profiles.yml needs the environment variable {name}; set it")
    return str(default)


def _as_number(value: Any) -> Any:
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else value


def profile_target(target: str | None = None, project_dir: Path = REPO_ROOT) -> dict[str, Any]:
    """The rendered output `target` of the metricbook profile (env_var() resolved as dbt does)."""
    path = project_dir / "profiles.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WarehouseError(f"{path}: no profiles.yml here; restore it from the repo") from None
    except (OSError, UnicodeDecodeError) as error:
        raise WarehouseError(f"{path}: cannot read it ({_one_line(error)})") from None
    except yaml.YAMLError as error:
        raise WarehouseError(f"{path}: not valid YAML ({_one_line(error)})") from None
    profile = raw.get("metricbook") if isinstance(raw, Mapping) else None
    outputs = profile.get("outputs") if isinstance(profile, Mapping) else None
    if not isinstance(outputs, Mapping) or not outputs:
        raise WarehouseError(f"{path}: needs a profile `metricbook:` with `outputs:`")
    name = target or profile.get("target", "duckdb")
    if name not in outputs:
        message = f"{path} has no target '{name}' (targets: {', '.join(map(str, outputs))})"
        raise ConfigError(f"--target: {message}") if target else WarehouseError(message)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["env_var"] = _env_var
    environment.filters["as_number"] = _as_number

    def render(value: Any, key: str) -> Any:
        if isinstance(value, str) and "{{" in value:
            try:
                rendered = environment.from_string(value).render()
            except jinja2.TemplateError as error:
                raise WarehouseError(
                    f"{path}: outputs.{name}.{key} does not render ({_one_line(error)})"
                ) from None
            return int(rendered) if rendered.isdigit() else rendered
        if isinstance(value, Mapping):
            return {k: render(item, f"{key}.{k}") for k, item in value.items()}
        return value

    output = outputs[name]
    if not isinstance(output, Mapping) or "type" not in output:
        raise WarehouseError(f"{path}: outputs.{name} needs a `type:`")
    return {"target_name": name, **{k: render(v, str(k)) for k, v in output.items()}}


# --------------------------------------------------------------------------------------------
# DuckDB


def duckdb_file_problem(path: Path) -> str | None:
    """Why `path` cannot be a DuckDB database, judged without opening it (opening creates a
    missing file and initialises an empty one)."""
    if not path.exists():
        return (
            f"{path}: no DuckDB database here; build it with `dbt build` "
            "(or point METRICBOOK_DUCKDB_PATH at the built file)"
        )
    if path.is_dir():
        return (
            f"{path} is a directory, not a DuckDB database file; "
            "point METRICBOOK_DUCKDB_PATH at the .duckdb file"
        )
    try:
        with path.open("rb") as handle:
            header = handle.read(12)
    except OSError as error:
        return f"{path}: cannot read it ({error.strerror}); check its permissions"
    if not header:
        return f"{path} is empty (0 bytes), not a built database; run `dbt build`"
    if header[8:12] != DUCKDB_MAGIC:
        return (
            f"{path} is not a DuckDB database file; "
            "point METRICBOOK_DUCKDB_PATH at the database `dbt build` wrote"
        )
    return None


def _duckdb_error(path: Path, error: Exception) -> WarehouseError:
    message = _one_line(error)
    locked = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", message)
    if locked or "Could not set lock" in message:
        holder = f" (PID {locked.group(2)}, {Path(locked.group(1)).name})" if locked else ""
        return WarehouseError(
            f"{path} is locked by another process{holder}, most likely a running `dbt build`: "
            "wait for it to finish, then run this again"
        )
    if "Could not read enough bytes" in message or "Corrupt database file" in message:
        return WarehouseError(
            f"{path} is damaged or truncated ({message}); rebuild it with `dbt build`"
        )
    return WarehouseError(f"{path}: cannot open it as a DuckDB database ({message})")


@dataclass
class DuckDBWarehouse:
    path: Path
    read_only: bool = True
    dialect: str = "duckdb"

    def __post_init__(self) -> None:
        import duckdb

        self.path = Path(self.path)
        self.location = str(self.path)
        problem = duckdb_file_problem(self.path)
        if problem:
            raise WarehouseError(problem)
        try:
            self._con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.Error as error:
            raise _duckdb_error(self.path, error) from None

    def param(self, name: str) -> str:
        return f"${name}"

    def relation(self, model: str) -> str:
        return f"main.{model}"

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        import duckdb

        try:
            return self._con.execute(sql, dict(params or {})).df()
        except duckdb.IOException as error:
            raise _duckdb_error(self.path, error) from None

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._con.execute(sql, dict(params or {}))

    def existing_relations(self, models: Iterable[str]) -> set[str]:
        names, params = _in_list(self, "relation", models)
        frame = self.frame(
            "select table_name from information_schema.tables "
            f"where table_catalog = current_database() and table_schema = 'main' "
            f"and table_name in ({names})",
            params,
        )
        return {str(name) for name in frame.iloc[:, 0]}

    def column_types(self, model: str) -> dict[str, str]:
        frame = self.frame(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = current_database() and table_schema = 'main' "
            "and table_name = $model order by ordinal_position",
            {"model": model},
        )
        return {str(n).lower(): str(t).lower() for n, t in frame.itertuples(index=False)}

    def write_rows(
        self,
        model: str,
        columns: Sequence[tuple[str, ColumnKind]],
        rows: Sequence[Mapping[str, Any]],
        replace_where: Mapping[str, Any],
    ) -> None:
        import duckdb

        if self.read_only:
            raise AssertionError("write_rows needs a writable DuckDBWarehouse")
        relation = self.relation(model)
        self._con.execute("begin transaction")
        try:
            self._con.execute(f"create table if not exists {relation} ({_ddl(columns, 'duckdb')})")
            existing = self.column_types(model)
            for name, kind in columns:
                if name not in existing:
                    self._con.execute(
                        f'alter table {relation} add column "{name}" {_TYPES["duckdb"][kind]}'
                    )
            conditions = " and ".join(f'"{column}" = ${column}' for column in replace_where)
            self._con.execute(f"delete from {relation} where {conditions}", dict(replace_where))
            self._insert_rows(relation, [name for name, _ in columns], rows)
            self._con.execute("commit")
        except BaseException as error:
            self._con.execute("rollback")
            if isinstance(error, duckdb.Error):
                raise WarehouseError(
                    f"could not write {model} in {self.path} ({_one_line(error)}); "
                    "nothing was changed"
                ) from None
            raise

    def _insert_rows(
        self, relation: str, names: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        quoted = ", ".join(f'"{name}"' for name in names)
        markers = ", ".join("?" for _ in names)
        values = [[_python_value(row.get(name)) for name in names] for row in rows]
        if values:
            self._con.executemany(f"insert into {relation} ({quoted}) values ({markers})", values)

    def close(self) -> None:
        self._con.close()


# --------------------------------------------------------------------------------------------
# Postgres


@dataclass
class PostgresWarehouse:
    settings: Mapping[str, Any]
    dialect: str = "postgres"

    def __post_init__(self) -> None:
        try:
            import psycopg2
        except ImportError:
            raise WarehouseError(
                "target postgres needs psycopg2: pip install 'metricbook[postgres]'"
            ) from None
        settings = self.settings
        host, port = settings.get("host"), settings.get("port")
        self.schema = str(settings.get("schema", "public"))
        self.location = f"postgres {host}:{port}/{settings.get('dbname')} schema {self.schema}"
        try:
            port_number = int(port)
        except (TypeError, ValueError):
            raise WarehouseError(
                f"profiles.yml target {settings.get('target_name')}: port {port!r} is not a "
                "number; set METRICBOOK_PG_PORT to the server's port"
            ) from None
        try:
            self._con = psycopg2.connect(
                host=host,
                port=port_number,
                user=settings.get("user"),
                password=settings.get("password"),
                dbname=settings.get("dbname"),
                connect_timeout=10,
            )
        except psycopg2.Error as error:
            raise WarehouseError(
                f"cannot connect to Postgres at {host}:{port} ({_one_line(error)}); start the "
                "server or fix METRICBOOK_PG_HOST / _PORT / _USER / _PASSWORD"
            ) from None
        self._con.autocommit = True

    def param(self, name: str) -> str:
        return f"%({name})s"

    def relation(self, model: str) -> str:
        return f'"{_quote_inner(self.schema)}"."{model}"'

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        with self._cursor() as cursor:
            cursor.execute(sql, dict(params or {}))
            columns = [d[0] for d in cursor.description]
            import pandas as pd

            return pd.DataFrame(cursor.fetchall(), columns=columns)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._cursor() as cursor:
            cursor.execute(sql, dict(params or {}))

    @contextmanager
    def _cursor(self):
        import psycopg2

        try:
            with self._con.cursor() as cursor:
                yield cursor
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            raise WarehouseError(
                f"lost the connection to {self.location} ({_one_line(error)}); try again"
            ) from None

    def existing_relations(self, models: Iterable[str]) -> set[str]:
        names, params = _in_list(self, "relation", models)
        frame = self.frame(
            "select table_name from information_schema.tables where table_schema = "
            f"%(schema)s and table_name in ({names})",
            {"schema": self.schema, **params},
        )
        return {str(name) for name in frame.iloc[:, 0]}

    def column_types(self, model: str) -> dict[str, str]:
        frame = self.frame(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %(schema)s and table_name = %(model)s order by ordinal_position",
            {"schema": self.schema, "model": model},
        )
        return {str(n).lower(): str(t).lower() for n, t in frame.itertuples(index=False)}

    def write_rows(
        self,
        model: str,
        columns: Sequence[tuple[str, ColumnKind]],
        rows: Sequence[Mapping[str, Any]],
        replace_where: Mapping[str, Any],
    ) -> None:
        import psycopg2

        relation = self.relation(model)
        self._con.autocommit = False
        try:
            with self._con.cursor() as cursor:
                cursor.execute(
                    f"create table if not exists {relation} ({_ddl(columns, 'postgres')})"
                )
                cursor.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = %(schema)s and table_name = %(model)s",
                    {"schema": self.schema, "model": model},
                )
                existing = {str(name).lower() for (name,) in cursor.fetchall()}
                for name, kind in columns:
                    if name not in existing:
                        cursor.execute(
                            f'alter table {relation} add column "{name}" {_TYPES["postgres"][kind]}'
                        )
                conditions = " and ".join(f'"{c}" = %({c})s' for c in replace_where)
                cursor.execute(f"delete from {relation} where {conditions}", dict(replace_where))
                self._insert_rows(cursor, relation, [name for name, _ in columns], rows)
            self._con.commit()
        except BaseException as error:
            self._con.rollback()
            if isinstance(error, psycopg2.Error):
                raise WarehouseError(
                    f"could not write {model} in {self.location} ({_one_line(error)}); "
                    "nothing was changed"
                ) from None
            raise
        finally:
            self._con.autocommit = True

    def _insert_rows(
        self, cursor, relation: str, names: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        quoted = ", ".join(f'"{name}"' for name in names)
        markers = ", ".join(["%s"] * len(names))
        values = [tuple(_python_value(row.get(name)) for name in names) for row in rows]
        cursor.executemany(f"insert into {relation} ({quoted}) values ({markers})", values)

    def close(self) -> None:
        self._con.close()


# --------------------------------------------------------------------------------------------
# Spark


@dataclass
class SparkWarehouse:
    settings: Mapping[str, Any]
    dialect: str = "spark"

    def __post_init__(self) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise WarehouseError(
                "target spark needs pyspark: pip install 'metricbook[spark]'"
            ) from None
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in (self.settings.get("server_side_parameters") or {}).items():
            builder = builder.config(key, str(value))
        self._spark = builder.getOrCreate()
        self.schema = self.settings["schema"]
        self.location = f"spark schema {self.schema}"

    def param(self, name: str) -> str:
        return f":{name}"

    def relation(self, model: str) -> str:
        return f"`{self.schema}`.`{model}`"

    def frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        result = self._spark.sql(sql, args=dict(params or {}))
        import pandas as pd

        return pd.DataFrame(result.collect(), columns=result.columns)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._spark.sql(sql, args=dict(params or {})).collect()

    def existing_relations(self, models: Iterable[str]) -> set[str]:
        return {m for m in models if self._spark.catalog.tableExists(f"{self.schema}.{m}")}

    def column_types(self, model: str) -> dict[str, str]:
        return {n.lower(): t.lower() for n, t in self._spark.table(f"{self.schema}.{model}").dtypes}

    def write_rows(
        self,
        model: str,
        columns: Sequence[tuple[str, ColumnKind]],
        rows: Sequence[Mapping[str, Any]],
        replace_where: Mapping[str, Any],
    ) -> None:
        """Spark tables have no transactions: the kept rows and the new ones are assembled
        first (checkpointed) and the table is overwritten in one write."""
        from pyspark.sql import functions as F

        relation = self.relation(model)
        names = [name for name, _ in columns]
        new = self._spark.createDataFrame(
            [tuple(_python_value(row.get(name)) for name in names) for row in rows],
            schema=_ddl(columns, "spark"),
        )
        if self._spark.catalog.tableExists(f"{self.schema}.{model}"):
            conditions = " and ".join(f"`{column}` = :{column}" for column in replace_where)
            kept = self._spark.sql(
                f"select * from {relation} where not ({conditions})", args=dict(replace_where)
            )
            for name, kind in columns:
                if name not in kept.columns:
                    kept = kept.withColumn(name, F.lit(None).cast(_TYPES["spark"][kind]))
            new = kept.unionByName(new, allowMissingColumns=True).localCheckpoint()
        new.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(
            f"{self.schema}.{model}"
        )

    def close(self) -> None:
        pass  # the session belongs to the process; stopping it would break a caller's session


# --------------------------------------------------------------------------------------------
# helpers

_TYPES: dict[str, dict[str, str]] = {
    "duckdb": {"text": "varchar", "bigint": "bigint", "double": "double", "boolean": "boolean"},
    "postgres": {
        "text": "text",
        "bigint": "bigint",
        "double": "double precision",
        "boolean": "boolean",
    },
    "spark": {"text": "string", "bigint": "bigint", "double": "double", "boolean": "boolean"},
}


def _ddl(columns: Sequence[tuple[str, ColumnKind]], dialect: str) -> str:
    quote = "`" if dialect == "spark" else '"'
    return ", ".join(f"{quote}{n}{quote} {_TYPES[dialect][k]}" for n, k in columns)


def _quote_inner(identifier: str) -> str:
    return identifier.replace('"', '""')


def _in_list(warehouse: Warehouse, prefix: str, values: Iterable[str]) -> tuple[str, dict]:
    """`in (...)` markers for bound values (never the values pasted into the SQL)."""
    params = {f"{prefix}_{index}": value for index, value in enumerate(values)}
    return ", ".join(warehouse.param(name) for name in params), params


def _python_value(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------
# connecting


def connect(
    target: str | None = None, project_dir: Path = REPO_ROOT, writable: bool = False
) -> Warehouse:
    """A warehouse for a dbt target of profiles.yml (default: the profile's default target).
    DuckDB opens read-only unless `writable` (a read-only handle can share the file)."""
    settings = profile_target(target, project_dir)
    kind = settings["type"]
    if kind == "duckdb":
        if not settings.get("path"):
            raise WarehouseError(f"profiles.yml target {settings['target_name']} needs a `path`")
        path = Path(str(settings["path"])).expanduser()
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


# --------------------------------------------------------------------------------------------
# the build log


def check_build(warehouse: Warehouse, marts: Sequence[str]) -> list[str]:
    """What is wrong with the build that produced `marts`, from the build log the dbt hooks
    write (macros/hooks/): one line per problem, empty when the last invocation finished, no
    mart failed in its last run and none is older than a staging or intermediate model built
    after it. Raises WarehouseError when a mart is missing (there is nothing to read)."""
    present = warehouse.existing_relations([BUILD_LOG, *marts])
    missing = [mart for mart in marts if mart not in present]
    where = warehouse.location
    if len(missing) == len(marts) and BUILD_LOG not in present:
        raise WarehouseError(
            f"{where} holds no metricbook marts: it was never built; run `dbt build`"
        )
    if BUILD_LOG in present:
        problems = _build_log_problems(warehouse, marts)
    else:
        problems = [
            f"{where} was built by a metricbook without a build log or not built: run `dbt build`"
        ]
    if missing:
        cause = f" ({problems[0]})" if problems else ""
        raise WarehouseError(
            f"{where} has no {', '.join(missing)}{cause}: the marts are not built; run `dbt build`"
        )
    return problems


def _stamp(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def _build_log_problems(warehouse: Warehouse, marts: Sequence[str]) -> list[str]:
    import pandas as pd

    log = warehouse.relation(BUILD_LOG)
    p = warehouse.param
    names, params = _in_list(warehouse, "mart", marts)
    params.update(
        invocation_node=INVOCATION_NODE,
        staging=f"{UPSTREAM_PATHS[0]}%",
        intermediate=f"{UPSTREAM_PATHS[1]}%",
    )
    sql = f"""
        with build_log as (
            select invocation_id, command, started_at, logged_at, node, node_path, status
            from {log}
        ),
        latest_invocation as (
            select invocation_id, command, started_at
            from build_log
            where node = {p("invocation_node")}
            order by started_at desc, logged_at desc
            limit 1
        ),
        invocation_verdict as (
            -- a killed invocation has only its 'started' row: its verdict is null
            select
                latest_invocation.command,
                latest_invocation.started_at,
                min(case when build_log.status <> 'started' then build_log.status end) as status
            from latest_invocation
            left join build_log
                on build_log.invocation_id = latest_invocation.invocation_id
                and build_log.node = {p("invocation_node")}
            group by latest_invocation.command, latest_invocation.started_at
        ),
        mart_runs as (
            select node, status, started_at,
                row_number() over (
                    partition by node order by started_at desc, logged_at desc
                ) as recency
            from build_log
            where node in ({names})
        ),
        mart_successes as (
            select node, max(started_at) as started_at
            from build_log
            where node in ({names}) and status = 'success'
            group by node
        ),
        upstream_successes as (
            select node, started_at,
                row_number() over (order by started_at desc, logged_at desc) as recency
            from build_log
            where status = 'success'
                and (node_path like {p("staging")} or node_path like {p("intermediate")})
        )
        select 'invocation' as kind, command as node, status, started_at from invocation_verdict
        union all
        select 'mart_latest' as kind, node, status, started_at from mart_runs where recency = 1
        union all
        select 'mart_success' as kind, node, 'success' as status, started_at from mart_successes
        union all
        select 'upstream' as kind, node, 'success' as status, started_at
        from upstream_successes where recency = 1
    """
    frame = warehouse.frame(sql, params)
    frame.columns = [str(c).lower() for c in frame.columns]
    rows = {kind: group for kind, group in frame.groupby("kind")}

    def by_node(kind: str) -> dict[str, tuple[Any, Any]]:
        group = rows.get(kind)
        if group is None:
            return {}
        return {str(r.node): (r.status, r.started_at) for r in group.itertuples(index=False)}

    where = warehouse.location
    problems = []
    invocation = rows.get("invocation")
    if invocation is None or invocation.empty:
        problems.append(f"{where}: the build log {BUILD_LOG} is empty; run `dbt build`")
    else:
        last = invocation.iloc[0]
        if last["status"] is None or pd.isna(last["status"]):
            problems.append(
                f"{where}: the last dbt {last['node']} (started {_stamp(last['started_at'])} "
                "UTC) never finished: it is still running or was killed; wait for it or run "
                "`dbt build`"
            )
        elif last["status"] != "success":
            problems.append(
                f"{where}: the last dbt {last['node']} (started {_stamp(last['started_at'])} "
                "UTC) failed; fix it and run `dbt build`"
            )
    latest, successes = by_node("mart_latest"), by_node("mart_success")
    upstream = by_node("upstream")
    for mart in marts:
        if mart not in latest:
            problems.append(
                f"{where}: {mart} is not in the build log {BUILD_LOG}: it was not built by "
                "dbt; run `dbt build`"
            )
            continue
        status, started = latest[mart]
        if status != "success":
            problems.append(
                f"{where}: {mart} did not build in the last dbt run that included it "
                f"(status {status}, started {_stamp(started)} UTC): it holds an older result "
                "or none; run `dbt build`"
            )
            continue
        built = successes[mart][1]
        for node, (_, rebuilt) in upstream.items():
            if pd.Timestamp(rebuilt) > pd.Timestamp(built):
                problems.append(
                    f"{where}: {mart} is stale: {node} was rebuilt by a dbt run started "
                    f"{_stamp(rebuilt)} UTC, after {mart} was built (started {_stamp(built)} "
                    "UTC); run `dbt build`"
                )
    return problems
