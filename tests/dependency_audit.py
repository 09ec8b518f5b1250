"""Audit the installed dependencies against PyPI's vulnerability data with pip-audit.

Fails when any installed package has a known vulnerability. Packages the index could not
look up (an offline mirror, a release it does not list) are printed, not failed, so that
an audit that could not run is visible in the log rather than silently green.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    run = subprocess.run(
        [str(BIN / "pip-audit"), "--skip-editable", "--progress-spinner", "off", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f"dependency audit could not run: {run.stderr.strip()[-500:]}")
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']} {dependency['version']}: {ids}")
    print(
        f"dependency audit: {audited} audited, {len(vulnerable)} vulnerable, "
        f"{len(skipped)} not found on the index"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
