"""Launch training_job on the running stack and print how long it took, end to end.

    python3 deploy/scripts/time_docker_run.py [--port 3000]

Submits through the webserver's GraphQL API (queued, then launched by the daemon into its own
container), polls until the run finishes and prints the wall time from submit to success and
the run's own start-to-end time. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request

LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = """query($runId: ID!) { runOrError(runId: $runId) {
  ... on Run { status startTime endTime } } }"""


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=90) as response:
        return json.load(response)["data"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    selector = {
        "repositoryLocationName": "training_assets",
        "repositoryName": "__repository__",
        "jobName": "training_job",
    }
    submitted = time.monotonic()
    result = graphql(args.port, LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})
    if result["launchRun"]["__typename"] != "LaunchRunSuccess":
        print(result, file=sys.stderr)
        return 1
    run_id = result["launchRun"]["run"]["runId"]
    while time.monotonic() - submitted < args.timeout:
        run = graphql(args.port, STATUS, {"runId": run_id})["runOrError"]
        if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            wall = time.monotonic() - submitted
            print(
                f"run {run_id}: {run['status']} in {wall:.1f} s from submit "
                f"({run['endTime'] - run['startTime']:.1f} s run start to end)"
            )
            return 0 if run["status"] == "SUCCESS" else 1
        time.sleep(0.5)
    print(f"run {run_id} not finished after {args.timeout} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
