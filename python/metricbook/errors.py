"""The kinds of failure a user can cause, each with its documented exit code (README, "Exit
codes"). Every module raises one of these at its boundary; the CLI turns it into one line on
stderr and the exit code, never a traceback.

0  success
1  an internal error: a bug in metricbook (the one line says where the traceback was saved)
2  usage or configuration: a flag, a value, experiments.yml, an output path
3  the data failed validation: an experiment excluded by staging, a mart failing its checks
4  the warehouse: unreachable, not a database, never built, locked, stale or half-built
5  a decision gate asked for with --fail-on tripped (srm, no-ship, ...)
"""

from __future__ import annotations


class MetricbookError(Exception):
    """A failure the user can act on; the message is one line saying what to do."""

    exit_code = 1


class ConfigError(MetricbookError, ValueError):
    """A flag, a config value or an output path that the user must fix."""

    exit_code = 2


class DataValidationError(MetricbookError):
    """The warehouse holds the data, but it failed the checks the readout relies on."""

    exit_code = 3


class WarehouseError(MetricbookError, RuntimeError):
    """The warehouse cannot be reached, is not a database, or does not hold a good build."""

    exit_code = 4


class GateError(MetricbookError):
    """A --fail-on gate tripped: the readout printed, and the exit code says it failed."""

    exit_code = 5
