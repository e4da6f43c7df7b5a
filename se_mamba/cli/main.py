"""``se-mamba``: the toolkit's command line.

Subcommands are registered in ``COMMANDS``; each module adds its own parser
and handler, so later tools (enhance, score, transcribe) plug in the same way.
"""
import argparse
import os
import sys

# Large fresh tensors are slow to fault in on VMs; transparent huge pages for
# torch's CPU allocator cut that cost (SEMamba advanced at 10 s: RTF about 4.3
# without, 2.4 with; docs/bench_enhance.md). Must be set before torch.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from ..version import __version__  # noqa: E402
from . import download, enhance, info, score, transcribe  # noqa: E402

COMMANDS = {"info": info, "enhance": enhance, "transcribe": transcribe, "score": score, "download": download}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="se-mamba",
        description="se_mamba: Mamba speech enhancement (SEMamba, MambAttention, SB-Mamba).",
    )
    parser.add_argument("--version", action="version", version=f"se-mamba {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("se-mamba: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, ImportError) as exc:
        # user-facing errors (a missing optional package names its extra): one
        # line, exit status 1 (SE_MAMBA_DEBUG=1 re-raises)
        if os.environ.get("SE_MAMBA_DEBUG") == "1":
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"se-mamba {args.command}: error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
