"""The ``s2mat`` command line. Each command lives in its own module and registers on ``app``."""

from s2mat.cli import info, replay, track  # noqa: F401  (register the commands)
from s2mat.cli import simulate  # noqa: F401  (registers `s2mat simulate`)
from s2mat.cli.app import app
from s2mat.cli.vlm import vlm_app

app.add_typer(vlm_app, name="vlm")


def main() -> None:
    app()


__all__ = ["app", "main"]
