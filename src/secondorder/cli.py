"""The ``secondorder`` command.

    secondorder audit verify [results-dir]   check every artifact against the manifest
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="secondorder", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="provenance of the pipeline's artifacts")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="recompute every hash; exit 1 naming each missing, changed or stale file")
    verify.add_argument("results_dir", nargs="?", default="results",
                        help="the pipeline's results directory (default: results)")
    args = parser.parse_args(argv)
    from . import audit as audit_module

    return audit_module.main_verify(args.results_dir)


if __name__ == "__main__":
    sys.exit(main())
