"""A checkout's way in: ``python cli.py …`` is the installed ``digital-incidents …`` command."""

from workflow.cli import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
