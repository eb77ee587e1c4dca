"""The ``secondorder`` command: :data:`DESCRIPTION` and :data:`EXAMPLES` are its help
text, shown as written (plain text, no markup)."""

from __future__ import annotations

import argparse
import sys

#: The first lines of ``secondorder --help``.
DESCRIPTION = """Tools around the secondorder pipeline (Levenberg-Marquardt versus Adam on
two spirals): check its results, document its config, pin its software."""

#: The last lines of ``secondorder --help``.
EXAMPLES = """examples:
  secondorder --version                      the package version
  secondorder audit verify results           check every artifact against the manifest
  secondorder audit compare results          each portable artifact identical to the
                                             published reference, different or missing
  secondorder audit reference results > reference/portable-hashes/default.json
                                             a reference from a run
  secondorder config-doc > config/README.md  every config key, from the config schema
  secondorder pins > requirements/pins.txt   the exact versions installed here

The pipeline itself runs with snakemake (see README.md)."""


def version() -> str:
    """The installed package's version (``pyproject.toml``'s, via its metadata)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("secondorder")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv=None) -> int:
    from secondorder.portable import REFERENCES

    parser = argparse.ArgumentParser(prog="secondorder", description=DESCRIPTION,
                                     epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"secondorder {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="provenance of the pipeline's artifacts")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="recompute every hash; exit 1 naming each missing, changed or stale file")
    verify.add_argument("results_dir", nargs="?", default="results",
                        help="the pipeline's results directory (default: results)")
    compare = audit_commands.add_parser(
        "compare", help="portable hashes against a published reference; exit 1 naming each "
        "artifact that differs or is missing")
    compare.add_argument("results_dir", nargs="?", default="results",
                         help="the pipeline's results directory (default: results)")
    compare.add_argument("--reference", default=REFERENCES["default"],
                         help="the reference (default: %(default)s, the default config's "
                         f"run; the test config's: {REFERENCES['test']})")
    reference = audit_commands.add_parser(
        "reference", help="print a reference (the portable hashes of a run and what it was "
        "made with) as JSON")
    reference.add_argument("results_dir", nargs="?", default="results",
                           help="the pipeline's results directory (default: results)")
    commands.add_parser(
        "config-doc", help="print every config key with its default and meaning (Markdown; "
        "secondorder config-doc > config/README.md)")
    commands.add_parser(
        "pins", help="print the exact versions installed here as a pip constraints file "
        "(secondorder pins > requirements/pins.txt)")
    args = parser.parse_args(argv)
    if args.command == "config-doc":
        from secondorder.config import describe_schema

        sys.stdout.write(describe_schema())
        return 0
    if args.command == "pins":
        from secondorder.pins import render

        sys.stdout.write(render())
        return 0
    if args.audit_command == "compare":
        from secondorder.portable import main_compare

        return main_compare(args.results_dir, args.reference)
    if args.audit_command == "reference":
        import json

        from secondorder.portable import reference as make_reference

        sys.stdout.write(json.dumps(make_reference(args.results_dir), indent=2,
                                    sort_keys=True) + "\n")
        return 0
    from secondorder import audit as audit_module

    return audit_module.main_verify(args.results_dir)


if __name__ == "__main__":
    sys.exit(main())
