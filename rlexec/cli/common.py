"""Helpers shared by the CLI command modules: loading the config with CLI overrides."""

from __future__ import annotations

import argparse
import os

from rlexec.config import Config, load_config


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file named by ``--config`` (or the default), RLEXEC_* overrides, then
    ``--database-url`` on top."""
    env = dict(os.environ)
    url = getattr(args, "database_url", None)
    if url:
        env["RLEXEC_DATABASE__URL"] = f'"{url}"'
    return load_config(getattr(args, "config", None), env)
