"""The Dagster code location: every asset, check, job, schedule, sensor and resource.

Definitions are loaded from the ``defs/`` folder, one module per layer (``dg`` project
layout). Each module builds its part for the current settings, so the same code location
serves the UI (settings from the environment) and the CLI or a test (settings of their own,
through :func:`load_definitions`).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import dagster as dg

import finance_assets.defs
from finance_assets.settings import ConfigError, Settings, use_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_definitions(settings: Settings | None = None) -> dg.Definitions:
    """Every definition of the ``defs/`` folder, built for ``settings`` (default: the
    environment's)."""
    scope = use_settings(settings) if settings is not None else contextlib.nullcontext()
    with scope, warnings.catch_warnings():
        # The loader imports Dagster's own preview scaffolders; none of them is used here.
        warnings.filterwarnings("ignore", category=dg.PreviewWarning, module="dagster")
        tree = dg.ComponentTree.from_module(
            defs_module=finance_assets.defs, project_root=PROJECT_ROOT
        )
        try:
            return tree.build_defs()
        except Exception as exc:
            problem = _config_error(exc)
            if problem is None:
                raise
            raise problem from None


def _config_error(exc: BaseException | None) -> ConfigError | None:
    """The setting the user must fix, from under the loader's own exception."""
    while exc is not None and not isinstance(exc, ConfigError):
        exc = exc.__cause__ or exc.__context__
    return exc


@dg.definitions
def defs() -> dg.Definitions:
    return load_definitions()
