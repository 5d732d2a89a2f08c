"""Launch training_job on the running stack through the webserver's GraphQL API.

    python3 deploy/scripts/launch_run.py [--port 3000] [--wait] [--timeout 1800]

Prints the run id and its page in the Dagster UI. The run is queued; the daemon starts it in
its own container. With --wait, follows the run until it ends and reports how: the final
status, the wall time from submit and the run's own start-to-end time (the figures in
deploy/README.md), and, for a failure, the failed steps with their errors. Exit 0 when the
run was launched (with --wait: when it succeeded). Standard library only: runs on the host.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

LOCATION, JOB = "training_assets", "training_job"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      status
      startTime
      endTime
      eventConnection(afterCursor: null) {
        events {
          __typename
          ... on ExecutionStepFailureEvent { stepKey error { message } }
        }
      }
    }
  }
}"""


def graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=90) as response:
        body = json.load(response)
    if "errors" in body:
        raise RuntimeError(f"GraphQL error: {body['errors']}")
    return body["data"]


def launch(port: int) -> str:
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "jobName": JOB,
    }
    params = {"selector": selector, "runConfigData": {}}
    result = graphql(port, LAUNCH, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launch refused ({result['__typename']}): {result}")
    return result["run"]["runId"]


def wait(port: int, run_id: str, timeout: float) -> dict:
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            run = graphql(port, STATUS, {"runId": run_id})["runOrError"]
        except (TimeoutError, urllib.error.URLError) as error:  # a slow poll: try again
            run = {"status": f"unknown ({error})"}
        if run.get("status") != last:
            last = run.get("status", "")
            print(f"  {time.strftime('%H:%M:%S')} {last}", flush=True)
        if last in TERMINAL:
            return run
        time.sleep(3)
    raise TimeoutError(f"run {run_id} did not end within {timeout:.0f} s (last: {last})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3000, help="the webserver's port")
    parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait")
    args = parser.parse_args()
    submitted = time.monotonic()
    run_id = launch(args.port)
    print(f"Launched {JOB}: run {run_id}")
    print(f"  http://127.0.0.1:{args.port}/runs/{run_id}")
    if not args.wait:
        print("Queued; the daemon starts it in its own container. Follow it with WAIT=1.")
        return 0
    run = wait(args.port, run_id, args.timeout)
    failures = [
        event
        for event in run["eventConnection"]["events"]
        if event["__typename"] == "ExecutionStepFailureEvent"
    ]
    wall = time.monotonic() - submitted
    took = (run.get("endTime") or 0) - (run.get("startTime") or 0)
    print(f"Run {run_id} ended: {run['status']} in {wall:.1f} s from submit ({took:.1f} s run)")
    for event in failures:
        message = (event["error"] or {}).get("message", "").strip().splitlines()
        print(f"  step {event['stepKey']} failed: {message[-1] if message else '?'}")
    return 0 if run["status"] == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
