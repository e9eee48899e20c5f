"""`metricbook`: experiment readouts and power calculations from the command line.

metricbook analyze --experiment ID [--target T] [--format table|json] [--report F.html]
                   [--write]
metricbook power mean --sd 2.5 --mde 0.1            # users per arm for an absolute MDE
metricbook power proportion --baseline 0.3 --n 5000 # the MDE 5000 users per arm can detect
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from metricbook.config import DEFAULT_CONFIG, ConfigError, load_config

RESULTS_TABLE = "experiment_results"


def _analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from metricbook.analysis import analyze, result_rows
    from metricbook.report import text_table, write_html_report
    from metricbook.warehouse import connected

    config = load_config(args.config)
    config.experiment(args.experiment)  # fail on an unknown id before connecting
    with connected(args.target, writable=args.write) as warehouse:
        readout = analyze(
            warehouse,
            config,
            args.experiment,
            target=args.target or "duckdb",
            bootstrap_resamples=args.bootstrap_resamples,
        )
        if args.write:
            rows = pd.DataFrame(result_rows(readout))
            warehouse.write_frame(RESULTS_TABLE, rows, {"experiment_id": args.experiment})
    if args.report:
        path = write_html_report(readout, args.report)
        print(f"wrote {path}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(readout.to_dict(), indent=2))
    else:
        print(text_table(readout))
    return 0


def _power(args: argparse.Namespace) -> int:
    from metricbook import stats

    design = {"alpha": args.alpha, "ratio": args.ratio}
    if args.kind == "mean":
        if args.mde is not None and args.n is None:
            size = stats.sample_size_mean(args.mde, args.sd, power=args.power, **design)
            answer = {"question": "sample size", "mde": args.mde, "sd": args.sd, **vars(size)}
        elif args.n is not None and args.mde is None:
            mde = stats.mde_mean(args.n, args.sd, power=args.power, **design)
            answer = {"question": "mde", "n_control": args.n, "sd": args.sd, "mde": mde}
        elif args.n is not None:
            power = stats.power_mean(args.n, args.mde, args.sd, **design)
            answer = {"question": "power", "n_control": args.n, "mde": args.mde, "power": power}
        else:
            raise ConfigError("power mean: give --mde (for a sample size) or --n (for the MDE)")
    else:
        if args.mde is not None and args.n is None:
            size = stats.sample_size_proportion(args.baseline, args.mde, power=args.power, **design)
            answer = {"question": "sample size", "baseline": args.baseline, **vars(size)}
        elif args.n is not None and args.mde is None:
            mde = stats.mde_proportion(args.baseline, args.n, power=args.power, **design)
            answer = {"question": "mde", "baseline": args.baseline, "n_control": args.n, "mde": mde}
        elif args.n is not None:
            power = stats.power_proportion(args.baseline, args.mde, args.n, **design)
            answer = {"question": "power", "baseline": args.baseline, "power": power}
        else:
            raise ConfigError(
                "power proportion: give --mde (for a sample size) or --n (for the MDE)"
            )
    answer.update(alpha=args.alpha, ratio=args.ratio)
    if args.format == "json":
        print(json.dumps(answer, indent=2))
    else:
        print("\n".join(f"{key:>12}: {value}" for key, value in answer.items()))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="metricbook", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    analyze = commands.add_parser("analyze", help="read an experiment from the marts")
    analyze.add_argument("--experiment", required=True, help="experiment_id in experiments.yml")
    analyze.add_argument("--target", help="dbt target of profiles.yml (default: its default)")
    analyze.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="experiments.yml")
    analyze.add_argument("--format", choices=["table", "json"], default="table")
    analyze.add_argument("--report", type=Path, help="write a self-contained HTML readout here")
    analyze.add_argument(
        "--write", action="store_true", help=f"store the results in table {RESULTS_TABLE}"
    )
    analyze.add_argument("--bootstrap-resamples", type=int, default=2000)
    analyze.set_defaults(run=_analyze)

    power = commands.add_parser("power", help="sample size, MDE or power of a design")
    power.add_argument("kind", choices=["mean", "proportion"])
    power.add_argument("--sd", type=float, help="per-user standard deviation (mean metrics)")
    power.add_argument("--baseline", type=float, help="control share (proportion metrics)")
    power.add_argument("--mde", type=float, help="absolute minimum detectable effect")
    power.add_argument("--n", type=int, help="users in control")
    power.add_argument("--alpha", type=float, default=0.05)
    power.add_argument("--power", type=float, default=0.8)
    power.add_argument("--ratio", type=float, default=1.0, help="n_treatment / n_control")
    power.add_argument("--format", choices=["table", "json"], default="table")
    power.set_defaults(run=_power)

    from metricbook.generator import add_generate_parser

    add_generate_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "kind", None) == "mean" and args.sd is None:
        parser().error("power mean needs --sd")
    if getattr(args, "kind", None) == "proportion" and args.baseline is None:
        parser().error("power proportion needs --baseline")
    try:
        return args.run(args)
    except (ConfigError, ValueError, RuntimeError) as error:
        print(f"metricbook: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
