"""`metricbook`: experiment readouts and power calculations from the command line.

metricbook analyze --experiment ID [--target T] [--format table|json] [--report F.html]
                   [--write] [--allow-stale] [--fail-on srm,no-ship,guardrail,validation-warning]
metricbook ranking [--target T] [--format table|json] [--report F.html] [--models a,b]
                                                    # the offline ranking-model evaluation
metricbook causal --launch ID --metric M [--method did|event_study|synthetic_control|its|all]
                  [--negative-control M2] [--format table|json] [--report F.html]
                                                    # a launch without a control group
metricbook power mean --sd 2.5 --mde 0.1            # users per arm for an absolute MDE
metricbook power proportion --baseline 0.3 --n 5000 # the MDE 5000 users per arm can detect
metricbook generate --users N --days D --out DIR    # synthetic raw tables (Parquet)
metricbook seeds --out seeds                        # regenerate the shipped seed CSVs
metricbook check-seeds [DIR]                        # check raw CSVs before dbt loads them
metricbook pitfalls [--database F]                  # the pitfall gallery on the DuckDB build
metricbook parity --targets duckdb,postgres         # marts and readout equal across engines
metricbook bench [--sizes 1M,10M]                   # the benchmark (`make bench`)

seeds, pitfalls, parity and bench hand their arguments to the module behind them (`metricbook
parity --help` is that module's help; `python -m metricbook.checks.parity` still works). `metricbook
--help` imports nothing heavy (no numpy, pandas, pydantic, DuckDB): each command imports what
it needs when it runs.

Whatever a user types or points at, a failure is one line on stderr (`metricbook: error: ...`,
saying what was wrong, where, and what to do) and one of these exit codes, never a traceback:

| code | meaning |
|---:|---|
| 0 | success: the output printed and no --fail-on gate tripped |
| 1 | internal error, a bug in metricbook: the line names the file holding the traceback |
| 2 | usage or configuration: a flag or its value, --config / experiments.yml, an output |
|   | path, a --target that profiles.yml lacks, power arguments the statistics refuse, |
|   | a ranking --models name the ranker marts do not have, a causal --launch the |
|   | panel does not have or a --metric it does not declare |
| 3 | data validation: the experiment is not in dim_experiments or is excluded there, |
|   | fct_experiment_user_metrics failed its checks, an arm has no users, or the data |
|   | leave a metric's test undefined (e.g. one user in an arm), a ranker mart whose |
|   | grain repeats, a launch panel on which a design is undefined (no comparison |
|   | unit, no pre-period days) |
| 4 | the warehouse: no database, not a database, damaged, locked, unreachable, never |
|   | built, built by a failed / killed / partial dbt run, stale; profiles.yml unrenderable |
| 5 | a --fail-on gate tripped (the readout printed first) |
| 130 | interrupted (Ctrl-C) |
| 141 | stdout closed early (e.g. piped into `head`) |

The checking tools keep their own verdicts: check-seeds exits 3 on a bad file, parity 1 when
the engines differ, pitfalls 1 when a prediction does not hold.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metricbook.arguments import (
    bounded_int,
    comma_choices,
    finite_float,
    non_empty,
    open_unit_interval,
    positive_float,
    positive_int,
)
from metricbook.errors import ConfigError, GateError, MetricbookError, WarehouseError
from metricbook.warehouse.paths import DEFAULT_CONFIG

RESULTS_TABLE = "experiment_results"
GATES = ("srm", "no-ship", "guardrail", "validation-warning")
MAX_BOOTSTRAP_RESAMPLES = 1_000_000
MIN_BOOTSTRAP_RESAMPLES = 100  # a 95% percentile interval needs its 2.5% tails populated
PROG = "metricbook"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _say(kind: str, message: object) -> None:
    print(f"{PROG}: {kind}: {_one_line(message)}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {_one_line(message)} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------------------------
# analyze


def _load_config(path: Path):
    from metricbook.readout.config import (
        load_config,
    )  # pydantic: only when a command reads a config

    if path.is_dir():
        raise ConfigError(f"--config {path} is a directory; give the experiments.yml file")
    if not path.exists():
        raise ConfigError(f"--config {path}: no such file; give the path of experiments.yml")
    try:
        return load_config(path)
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not a text (UTF-8) YAML file") from None


def _tripped_gates(readout, gates: Sequence[str]) -> list[str]:
    """The --fail-on gates the readout trips, each named with why."""
    tripped = []
    srm = readout.srm
    if "srm" in gates and not srm.passed:
        tripped.append(f"srm (sample ratio mismatch: p = {srm.p_value:.3g} < {srm.threshold})")
    if "no-ship" in gates and readout.decision.verdict != "ship":
        tripped.append(f"no-ship (the decision is '{readout.decision.verdict}')")
    if "guardrail" in gates:
        # non-inferiority: a guardrail trips unless its CI rules out harm beyond the margin
        unsafe = [
            f"{r.metric} on {r.variant} {r.guardrail['status']}"
            for r in readout.results
            if r.guardrail and r.guardrail["status"] != "ok"
        ]
        if unsafe:
            tripped.append(f"guardrail ({', '.join(unsafe)})")
    if "validation-warning" in gates and readout.validation.warnings:
        described = ", ".join(w.description for w in readout.validation.warnings)
        tripped.append(f"validation-warning ({described})")
    return tripped


def _analyze(args: argparse.Namespace) -> int:
    from metricbook.readout import queries
    from metricbook.readout.readout import analyze, result_columns, result_rows
    from metricbook.readout.report import (
        check_output_path,
        html_report,
        text_table,
        write_atomically,
    )
    from metricbook.warehouse.connection import check_build, connected

    config = _load_config(args.config)
    experiment = config.experiment(args.experiment)  # an unknown id fails before connecting
    report = check_output_path(args.report) if args.report is not None else None
    with connected(args.target, writable=args.write) as warehouse:
        problems = check_build(warehouse, queries.MARTS)
        if problems and not args.allow_stale:
            raise WarehouseError(f"{problems[0]} (or pass --allow-stale to read it anyway)")
        for problem in problems:
            _say("warning", problem)
        queries.check_metric_columns(warehouse, config.metrics_of(experiment))
        readout = analyze(
            warehouse,
            config,
            args.experiment,
            target=args.target or "duckdb",
            bootstrap_resamples=args.bootstrap_resamples,
        )
        readout = dataclasses.replace(readout, warnings=tuple(problems))
        html = html_report(readout) if report is not None else None
        if args.write:
            warehouse.write_rows(
                RESULTS_TABLE,
                result_columns(),
                result_rows(readout),
                {"experiment_id": args.experiment},
            )
    if report is not None:
        try:
            write_atomically(report, html)
        except OSError as error:
            raise ConfigError(f"--report {report}: cannot write it ({error.strerror})") from None
        print(f"wrote {report}", file=sys.stderr)
    if args.format == "json":
        print(_json(readout.to_dict()))
    else:
        print(text_table(readout))
    tripped = _tripped_gates(readout, args.fail_on)
    if tripped:
        raise GateError(f"--fail-on gate tripped: {'; '.join(tripped)}")
    return 0


# --------------------------------------------------------------------------------------------
# ranking


def _model_names(text: str) -> tuple[str, ...]:
    """--models: a comma list of model ids (order kept, duplicates dropped); whether each is in
    the marts is known only once they are read."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError("give one or more model ids, e.g. ranker_a,logged")
    return names


def _checked_report(args: argparse.Namespace) -> Path | None:
    """--report, refused before any work if it cannot be written."""
    if args.report is None:
        return None
    from metricbook.readout.report import check_output_path

    return check_output_path(args.report)


def _emit(args: argparse.Namespace, report: Path | None, result: Any, html, text) -> int:
    """Write the HTML report (atomically) if asked, then print JSON or the text table."""
    if report is not None:
        from metricbook.readout.report import write_atomically

        try:
            write_atomically(report, html(result))
        except OSError as error:
            raise ConfigError(f"--report {report}: cannot write it ({error.strerror})") from None
        print(f"wrote {report}", file=sys.stderr)
    print(_json(result.to_dict()) if args.format == "json" else text(result))
    return 0


def _ranking(args: argparse.Namespace) -> int:
    from metricbook.readout.ranking import html_report, ranking_report, text_table
    from metricbook.warehouse.connection import connected

    report = _checked_report(args)
    with connected(args.target) as warehouse:
        ranking = ranking_report(warehouse, args.target or "duckdb", args.models)
    return _emit(args, report, ranking, html_report, text_table)


# --------------------------------------------------------------------------------------------
# causal


def _causal(args: argparse.Namespace) -> int:
    from metricbook.readout.causal import METHODS, causal_readout, html_report, text_table
    from metricbook.warehouse.connection import connected

    report = _checked_report(args)
    methods = METHODS if args.method == "all" else (args.method,)
    with connected(args.target) as warehouse:
        readout = causal_readout(
            warehouse,
            args.target or "duckdb",
            args.launch,
            args.metric,
            methods=methods,
            negative_control=args.negative_control,
            seed=args.seed,
        )
    return _emit(args, report, readout, html_report, text_table)


# --------------------------------------------------------------------------------------------
# power


def _power(args: argparse.Namespace) -> int:
    from metricbook import stats

    if args.kind == "mean" and args.sd is None:
        raise ConfigError("power mean needs --sd (the per-user standard deviation)")
    if args.kind == "proportion" and args.baseline is None:
        raise ConfigError("power proportion needs --baseline (the control share)")
    design = {"alpha": args.alpha, "ratio": args.ratio}
    try:
        if args.kind == "mean":
            if args.mde is not None and args.n is None:
                size = stats.sample_size_mean(args.mde, args.sd, power=args.power, **design)
                answer = {"question": "sample size", "mde": args.mde, "sd": args.sd, **vars(size)}
            elif args.n is not None and args.mde is None:
                mde = stats.mde_mean(args.n, args.sd, power=args.power, **design)
                answer = {"question": "mde", "n_control": args.n, "sd": args.sd, "mde": mde}
            elif args.n is not None:
                power = stats.power_mean(args.n, args.mde, args.sd, **design)
                answer = {"question": "power", "n_control": args.n, "mde": args.mde}
                answer["power"] = power
            else:
                raise ConfigError("power mean: give --mde (for a sample size) or --n (for the MDE)")
        else:
            if args.mde is not None and args.n is None:
                size = stats.sample_size_proportion(
                    args.baseline, args.mde, power=args.power, **design
                )
                answer = {"question": "sample size", "baseline": args.baseline, **vars(size)}
            elif args.n is not None and args.mde is None:
                mde = stats.mde_proportion(args.baseline, args.n, power=args.power, **design)
                answer = {"question": "mde", "baseline": args.baseline, "n_control": args.n}
                answer["mde"] = mde
            elif args.n is not None:
                power = stats.power_proportion(args.baseline, args.mde, args.n, **design)
                answer = {"question": "power", "baseline": args.baseline, "power": power}
            else:
                raise ConfigError(
                    "power proportion: give --mde (for a sample size) or --n (for the MDE)"
                )
    except ConfigError:
        raise
    except (ValueError, ZeroDivisionError, OverflowError) as error:
        raise ConfigError(f"power {args.kind}: {_one_line(error)}") from None
    answer.update(alpha=args.alpha, ratio=args.ratio)
    if args.format == "json":
        print(_json(answer))
    else:
        print("\n".join(f"{key:>12}: {value}" for key, value in answer.items()))
    return 0


# --------------------------------------------------------------------------------------------
# generate


def _generate(args: argparse.Namespace) -> int:
    from metricbook.datagen.engine import run_generate

    try:
        return run_generate(args)
    except MetricbookError:
        raise
    except ValueError as error:
        raise ConfigError(f"generate: {_one_line(error)}") from None
    except OSError as error:
        where = error.filename or args.out
        raise ConfigError(
            f"generate --out {args.out}: cannot write {where} ({error.strerror})"
        ) from None


# --------------------------------------------------------------------------------------------
# the checking tools: each keeps its own module and options; these hand them the arguments

# command -> (module whose main(argv) runs it, what it does, an example)
DELEGATED = {
    "seeds": (
        "metricbook.datagen.seeds",
        "regenerate the shipped seed CSVs",
        "metricbook seeds --out seeds",
    ),
    "pitfalls": (
        "metricbook.checks.pitfalls",
        "run the pitfall gallery on the DuckDB build",
        "metricbook pitfalls --database build/metricbook.duckdb",
    ),
    "parity": (
        "metricbook.checks.parity",
        "check the marts and the readout are equal across engines",
        "metricbook parity --targets duckdb,postgres",
    ),
    "bench": (
        "metricbook.checks.bench.run",
        "benchmark generate, dbt and analyze",
        "metricbook bench --sizes 1M",
    ),
}
CHECK_SEEDS_EXAMPLE = "metricbook check-seeds seeds"


def _exit_code(code: object) -> int:
    """What a delegated main returned or raised SystemExit with, as an exit code."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    _say("error", code)  # SystemExit("message"): Python would print it and exit 1
    return 1


def _delegate(args: argparse.Namespace) -> int:
    module = importlib.import_module(DELEGATED[args.command][0])
    program = sys.argv[0]
    sys.argv[0] = f"{PROG} {args.command}"  # the delegate's argparse names itself after this
    try:
        code = module.main(list(args.passthrough))
    except SystemExit as stop:  # its argparse: --help (0) or a usage error already printed (2)
        code = stop.code
    finally:
        sys.argv[0] = program
    return _exit_code(code)


def _check_seeds(args: argparse.Namespace) -> int:
    from metricbook.warehouse import raw_files

    return _exit_code(raw_files.main([] if args.directory is None else [str(args.directory)]))


# --------------------------------------------------------------------------------------------
# output and errors


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: non-finite numbers become null, numpy scalars plain."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json(payload: Any) -> str:
    return json.dumps(_finite(payload), indent=2, allow_nan=False, default=str)


def _raised_in_stats(error: BaseException) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    stats_dir = str(Path(__file__).parent / "stats")
    return any(frame.filename.startswith(stats_dir) for frame in frames)


def _internal_error(error: BaseException) -> int:
    detail = f"{type(error).__name__}: {_one_line(error)}"
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="metricbook-traceback-", suffix=".txt", delete=False
        ) as stream:
            traceback.print_exception(error, file=stream)
        saved = f"traceback saved to {stream.name}"
    except OSError as failure:
        saved = f"the traceback could not be saved: {failure.strerror}"
    _say("internal error", f"{detail} ({saved}; please report it)")
    return 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("metricbook")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _Version(argparse.Action):
    """--version, reading the installed version only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{PROG} {_version()}")
        parser.exit(0)


def _example(text: str) -> str:
    return f"example: {text}"


ANALYZE_EXAMPLE = "metricbook analyze --experiment exp_home_feed_ranking_v2 --format json"
RANKING_EXAMPLE = "metricbook ranking --models ranker_a,ranker_b,logged --report ranking.html"
CAUSAL_EXAMPLE = (
    "metricbook causal --launch launch_idea_pins_eu --metric saves_per_active_user "
    "--method all --report build/causal.html"
)
POWER_EXAMPLE = "metricbook power mean --sd 2.5 --mde 0.1"


def parser() -> argparse.ArgumentParser:
    from metricbook.datagen import options

    examples = [
        ("analyze", ANALYZE_EXAMPLE),
        ("ranking", RANKING_EXAMPLE),
        ("causal", CAUSAL_EXAMPLE),
        ("power", POWER_EXAMPLE),
        ("generate", options.EXAMPLE),
        ("check-seeds", CHECK_SEEDS_EXAMPLE),
        *((name, example) for name, (_, _, example) in DELEGATED.items()),
    ]
    root = _Parser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog="examples:\n" + "\n".join(f"  {example}" for _, example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action=_Version)
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    analyze = commands.add_parser(
        "analyze", help="read an experiment from the marts", epilog=_example(ANALYZE_EXAMPLE)
    )
    analyze.add_argument(
        "--experiment", required=True, type=non_empty, help="experiment_id in experiments.yml"
    )
    analyze.add_argument(
        "--target", type=non_empty, help="dbt target of profiles.yml (default: its default)"
    )
    analyze.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="experiments.yml")
    analyze.add_argument("--format", choices=["table", "json"], default="table")
    analyze.add_argument("--report", type=Path, help="write a self-contained HTML readout here")
    analyze.add_argument(
        "--write", action="store_true", help=f"store the results in table {RESULTS_TABLE}"
    )
    analyze.add_argument(
        "--bootstrap-resamples",
        type=bounded_int(MIN_BOOTSTRAP_RESAMPLES, MAX_BOOTSTRAP_RESAMPLES),
        default=2000,
        help=f"{MIN_BOOTSTRAP_RESAMPLES:,} to {MAX_BOOTSTRAP_RESAMPLES:,}",
    )
    analyze.add_argument(
        "--allow-stale",
        action="store_true",
        help="read marts of a failed, killed or partial build anyway (warns, and says so "
        "in the readout)",
    )
    analyze.add_argument(
        "--fail-on",
        type=comma_choices(GATES),
        default=(),
        help=f"exit 5 after the readout when one of these trips: {', '.join(GATES)}",
    )
    analyze.set_defaults(run=_analyze)

    ranking = commands.add_parser(
        "ranking",
        help="the offline ranking-model evaluation (NDCG@k, calibration) from the marts",
        epilog=_example(RANKING_EXAMPLE),
    )
    ranking.add_argument(
        "--target", type=non_empty, help="dbt target of profiles.yml (default: its default)"
    )
    ranking.add_argument("--format", choices=["table", "json"], default="table")
    ranking.add_argument(
        "--report", type=Path, help="write a self-contained HTML report (reliability diagram)"
    )
    ranking.add_argument(
        "--models",
        type=_model_names,
        help="comma list of model ids to show (default: every model in the marts, 'logged' "
        "included)",
    )
    ranking.set_defaults(run=_ranking)

    causal = commands.add_parser(
        "causal",
        help="a launch without a control group: difference-in-differences, event study, "
        "synthetic control, interrupted time series, with placebos and pre-trend checks",
        epilog=_example(CAUSAL_EXAMPLE),
    )
    causal.add_argument("--launch", required=True, type=non_empty, help="launch_id of raw_launches")
    causal.add_argument(
        "--metric", required=True, type=non_empty, help="a metric of fct_launch_panel"
    )
    causal.add_argument(
        "--method",
        choices=["did", "event_study", "synthetic_control", "its", "all"],
        default="all",
    )
    causal.add_argument(
        "--negative-control",
        type=non_empty,
        help="a metric the launch should not move: the same design on it, a warning if it moves",
    )
    causal.add_argument(
        "--target", type=non_empty, help="dbt target of profiles.yml (default: its default)"
    )
    causal.add_argument("--format", choices=["table", "json"], default="table")
    causal.add_argument("--report", type=Path, help="write a self-contained HTML readout")
    causal.add_argument(
        "--seed",
        type=bounded_int(0, 2**32 - 1),
        default=0,
        help="seed of the permutation and bootstrap draws (default 0)",
    )
    causal.set_defaults(run=_causal)

    power = commands.add_parser(
        "power", help="sample size, MDE or power of a design", epilog=_example(POWER_EXAMPLE)
    )
    power.add_argument("kind", choices=["mean", "proportion"])
    power.add_argument(
        "--sd", type=positive_float, help="per-user standard deviation (mean metrics)"
    )
    power.add_argument(
        "--baseline", type=open_unit_interval, help="control share (proportion metrics)"
    )
    power.add_argument("--mde", type=finite_float, help="absolute minimum detectable effect")
    power.add_argument("--n", type=positive_int, help="users in control")
    power.add_argument("--alpha", type=open_unit_interval, default=0.05)
    power.add_argument("--power", type=open_unit_interval, default=0.8)
    power.add_argument("--ratio", type=positive_float, default=1.0, help="n_treatment / n_control")
    power.add_argument("--format", choices=["table", "json"], default="table")
    power.set_defaults(run=_power)

    generate = commands.add_parser(
        "generate",
        help=options.HELP,
        description=options.DESCRIPTION,
        epilog=_example(options.EXAMPLE),
    )
    options.add_arguments(generate)  # numpy and pandas wait until it runs
    generate.set_defaults(run=_generate)

    _add_delegated(commands, "seeds")
    check_seeds = commands.add_parser(
        "check-seeds",
        help="check raw CSV files before dbt loads them (exit 3 on a problem)",
        epilog=_example(CHECK_SEEDS_EXAMPLE),
    )
    check_seeds.add_argument(
        "directory", nargs="?", type=Path, help="directory of raw CSVs (default: seeds/)"
    )
    check_seeds.set_defaults(run=_check_seeds)

    for name in [name for name in DELEGATED if name != "seeds"]:
        _add_delegated(commands, name)
    return root


def _add_delegated(commands: argparse._SubParsersAction, name: str) -> None:
    # no help of its own: `--help` and every option go to the module's own parser
    _, summary, _ = DELEGATED[name]
    delegated = commands.add_parser(name, help=summary, add_help=False)
    delegated.set_defaults(run=_delegate, delegated=True)


def main(argv: list[str] | None = None) -> int:
    if not sys.warnoptions:
        # libraries' warnings (pyspark about pandas, great-expectations deprecations) are not
        # the user's business; `python -W default` shows them again
        warnings.simplefilter("ignore")
    try:
        try:
            root = parser()
            args, passthrough = root.parse_known_args(argv)
            if passthrough and not getattr(args, "delegated", False):
                root.error(f"unrecognized arguments: {' '.join(passthrough)}")
        except SystemExit as stop:  # --help, or a usage error already printed on one line
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        args.passthrough = passthrough
        return args.run(args)
    except KeyboardInterrupt:
        _say("error", "interrupted")
        return 130
    except MetricbookError as error:
        _say("error", error)
        return error.exit_code
    except BrokenPipeError:
        # the reader of stdout went away (`| head`): nothing more can reach it, and Python's
        # own flush at exit must not fail again
        try:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except ValueError as error:
        if _raised_in_stats(error):
            _say("error", error)
            return 2
        return _internal_error(error)
    except Exception as error:
        return _internal_error(error)


if __name__ == "__main__":
    raise SystemExit(main())
