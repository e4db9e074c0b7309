"""The `vigil` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from vigil import __version__

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from vigil import run as run_cmd
    from vigil.explain import cli as explain_cmd
    from vigil.kernel import cli as probe_cmd
    from vigil.lab import cli as lab_cmd
    from vigil.policy import cli as policy_cmd

    parser = argparse.ArgumentParser(
        prog="vigil",
        description="eBPF security observability and runtime enforcement for Linux.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log libbpf and agent details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run_cmd.add_parser(sub)
    probe_cmd.add_parser(sub)
    lab_cmd.add_parser(sub)
    policy_cmd.add_parser(sub, extra=(explain_cmd.add_explain,))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from vigil.kernel.mounts import MountError
    from vigil.libbpf import BpfError
    from vigil.policy.errors import PolicyError
    from vigil.preflight import PreflightError
    from vigil.run import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="vigil: %(name)s: %(message)s",
    )
    try:
        result: int = args.func(args)
    except UsageError as err:
        parser.error(str(err))
    except PolicyError as err:  # a policy file (vigil run --tracing-policy): every issue
        for issue in err.issues:
            print(issue, file=sys.stderr)
        return 1
    except (PreflightError, MountError, BpfError, FileNotFoundError) as err:
        print(f"vigil: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result
