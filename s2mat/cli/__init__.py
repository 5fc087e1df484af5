"""The ``s2mat`` command line. Each command lives in its own module and registers on ``app``."""

from s2mat.cli import info, replay, track  # noqa: F401  (register the commands)
from s2mat.cli import simulate  # noqa: F401  (registers `s2mat simulate`)
from s2mat.cli import vlm  # noqa: F401  (registers `s2mat vlm`)
from s2mat.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
