"""``python -m c3_dense <tool> [arguments]``: the command lines of an installed c3_dense."""
import importlib
import sys

from c3_dense.cli import TOOLS


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m c3_dense TOOL [arguments]   (TOOL --help for its own)\n"
              "tools: " + ", ".join(TOOLS))
        return 0 if argv else 2
    tool, rest = argv[0].replace("-", "_"), argv[1:]
    if tool not in TOOLS:
        sys.stderr.write(f"error: no tool {argv[0]!r}; choose one of: {', '.join(TOOLS)}\n")
        return 2
    sys.argv = [f"c3_dense {tool}"] + rest  # argparse's prog, as the user typed it
    return importlib.import_module(f"c3_dense.cli.{tool}").main(rest)


if __name__ == "__main__":
    sys.exit(main())
