"""The ``s2mat`` command line. Each command lives in its own module and registers on ``app``."""

from s2mat.cli import demo, eval, info, map, replay, ros, simulate, track, vlm  # noqa: F401  (register the commands)
from s2mat.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
