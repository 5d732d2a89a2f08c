"""`feast apply` and the description of the applied registry, in one child process.

    python -m training_assets.resources.feast_apply      # in the feature repo directory

Runs Feast's own CLI command (same output, same errors), then prints the registry's
description (`feast_description.describe_store`) as JSON on a last line starting with MARKER. One
process imports Feast (several seconds) once; the Dagster run process never imports it.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from pathlib import Path

    from feast import FeatureStore
    from feast.cli.cli import cli

    from training_assets.resources.feast_description import MARKER, describe_store

    # standalone_mode=False: return here instead of exiting; errors still propagate.
    status = cli.main(["apply"], prog_name="feast", standalone_mode=False)
    if status:
        sys.exit(status)
    description = describe_store(FeatureStore(repo_path=str(Path.cwd())))
    print(MARKER + json.dumps(description), flush=True)


if __name__ == "__main__":
    main()
