"""Alembic's command line for the store, without an alembic.ini: ``python -m passerelle.store.migrations <command>``.

- ``revision --autogenerate -m "add the zap table"`` writes ``versions/NNNN_add_the_zap_table.py`` (the
  next number) from what the models declare beyond the newest revision: it compares them with a scratch
  SQLite database upgraded to the head, so no store of yours is needed or touched. ``check`` says whether
  the models and the migrations differ, the same way.
- Any other command (``current``, ``history``, ``upgrade head``, ``downgrade -1``, ``stamp``) acts on the
  configured store: ``PASSERELLE_DATABASE_URL``, else the SQLite file under ``PASSERELLE_HOME``.

Read the generated file before committing it (docs/store.md, "Adding a migration").
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import CommandLine
from alembic.script import ScriptDirectory

from passerelle.settings import get_settings
from passerelle.store.migrations import alembic_config

_AGAINST_SCRATCH = {"revision", "check"}


def next_revision_id(config) -> str:
    """``0003`` after ``0002``: revisions are numbered in order, so their files sort as they apply."""
    numbers = [int(s.revision) for s in ScriptDirectory.from_config(config).walk_revisions() if s.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def main(argv: Sequence[str] | None = None) -> None:
    cli = CommandLine(prog="python -m passerelle.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("a command is needed, e.g. revision --autogenerate -m \"add the zap table\"")
    name = options.cmd[0].__name__
    if name not in _AGAINST_SCRATCH:
        cli.run_cmd(alembic_config(url=get_settings().store_url), options)
        return
    with tempfile.TemporaryDirectory(prefix="passerelle-migrations-") as scratch:
        config = alembic_config(url=f"sqlite:///{Path(scratch) / 'head.db'}")
        command.upgrade(config, "head")
        if name == "revision" and not options.rev_id:
            options.rev_id = next_revision_id(config)
        cli.run_cmd(config, options)


if __name__ == "__main__":
    main(sys.argv[1:])
