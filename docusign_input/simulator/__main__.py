"""``python -m docusign_input.simulator``: the same as ``docusign-input simulate``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m docusign_input.simulator",
        description="Run the embedded DocuSign simulator.",
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
