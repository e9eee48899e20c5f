"""Where the project lives: the repository root and the shipped experiments.yml.

Standard library only, so the CLI can name its defaults without importing the config loader
(pydantic) or anything heavier; dbt_runner and config re-export these names.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO_ROOT / "experiments.yml"
