"""`python -m telehealth.protocol --markdown`: regenerate docs/protocol.md's tables.

`--check` changes nothing and exits 1 when the file is out of date with the schemas.
"""

from __future__ import annotations

import argparse
import sys

from .docs import DOC, render, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telehealth.protocol")
    parser.add_argument("--markdown", action="store_true", help="rewrite docs/protocol.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if it is out of date")
    args = parser.parse_args(argv)
    if args.check:
        text = DOC.read_text(encoding="utf-8")
        stale = render(text) != text
        print("docs/protocol.md is out of date" if stale else "docs/protocol.md is up to date")
        return 1 if stale else 0
    if args.markdown:
        print("docs/protocol.md rewritten" if write() else "docs/protocol.md already up to date")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
