"""``python -m s2mat`` runs the command line."""

from s2mat.cli import main

main()
