"""The Dagster UI in a real headless Chromium: lineage, "Materialize all", checks, metadata.

Starts `dagster dev` (webserver + daemon; runs go through the instance's run queue, as with
`make dev`) on a temporary project copy and DAGSTER_HOME, on 127.0.0.1 and a free port, and
drives Debian's chromium through playwright (no browser download: `playwright install` is not
needed). It asserts what a user sees:

1. the global asset lineage shows every asset of the code location, and the edges drawn
   between the nodes are exactly the dependencies of the asset graph (cross-checked against
   the webserver's GraphQL API and `build_definitions()`);
2. "Materialize all" launches one run that succeeds within RUN_TIMEOUT_S;
3. the run page says Success; each asset page with checks lists every check as passed (and
   GraphQL agrees that all checks of the run succeeded);
4. the `model_metrics` page shows the rmse and mae of the run, the evaluation plots and the
   MLflow run link; `registered_model_version` shows version 1 as champion.

Screenshots of every step go to $TEST_ARTIFACTS_DIR/browser (default var/test-artifacts/browser).
With UPDATE_SCREENSHOTS=1 the screenshots of docs/ui.md in docs/screenshots/ are rewritten:

    UPDATE_SCREENSHOTS=1 .venv/bin/pytest -m browser -v

Without chromium (CHROMIUM_PATH, default /usr/bin/chromium) or playwright the test skips,
except under CI=true, where it fails: CI installs chromium (.ci/run) and must run it.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from training_assets.project import PROJECT_DIR
from training_assets_tests.support.processes import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BIN = Path(sys.executable).parent
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", PROJECT_DIR / "var" / "test-artifacts"))
README_SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"
# Written to docs/screenshots/ with UPDATE_SCREENSHOTS=1 (docs/ui.md shows them).
README_SHOTS = ("lineage.png", "model_metrics.png", "model_metrics-plot.png")
VIEWPORT = {"width": 1800, "height": 1000}
STARTUP_TIMEOUT_S = 240
RUN_TIMEOUT_S = int(os.environ.get("BROWSER_RUN_TIMEOUT_S", "480"))
UI_TIMEOUT_MS = 60_000
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LISTEN = ("-h", "127.0.0.1", "-p")
CHECKED_ASSETS = ("training_frame", "train_set", "test_set", "model", "model_metrics")
SOURCES = ("driver_orders", "driver_stats_source")


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run, not skip)")
    pytest.skip(reason)


def _wait_for(condition, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ValueError) as error:
            value, last_error = None, error
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s (last error: {last_error})")


class DagsterUI:
    """A running `dagster dev` and its GraphQL endpoint."""

    def __init__(self, url: str, log_path: Path):
        self.url = url
        self.log_path = log_path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.load(response)
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
ASSET_NODES = """{ assetNodes { assetKey { path } dependencyKeys { path } groupName kinds
  description } }"""
RUNS = """{ runsOrError { ... on Runs { results { runId status } } } }"""
CHECKS = """query ($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name blocking
    executionForLatestMaterialization { runId status } } } } } } }"""


def _location_loaded(ui: DagsterUI) -> bool:
    entries = ui.graphql(LOCATIONS)["workspaceOrError"].get("locationEntries") or []
    for entry in entries:
        error = entry["locationOrLoadError"]
        if error and error["__typename"] == "PythonError":
            raise AssertionError(f"code location failed to load: {error['message']}")
    return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


@pytest.fixture
def dagster_ui(project) -> Iterator[DagsterUI]:
    home = project.root / "var" / "dagster_home"
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    # project.env() sets the latency limits out of reach: no check depends on the load.
    env = {**os.environ, **project.env()}
    log_path = project.root / "dagster-dev.log"
    log = open(log_path, "w")  # noqa: SIM115 (closed in finally)
    process = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-m", "training_assets.definitions", *LISTEN, str(port)],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group, to stop everything it started. SIGINT back to the default:
        # started from a non-interactive shell it is ignored, and `dagster dev` maps SIGTERM to
        # the SIGINT handler, so it would ignore SIGTERM too.
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ui = DagsterUI(f"http://127.0.0.1:{port}", log_path)
    try:
        started = time.monotonic()

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"dagster dev exited {process.returncode}:\n{ui.log_tail()}")
            return _location_loaded(ui)

        _wait_for(ready, STARTUP_TIMEOUT_S, "dagster dev serving the loaded code location")
        print(f"dagster dev ready in {time.monotonic() - started:.1f}s on {ui.url}")
        yield ui
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: `dagster dev` stops the webserver and daemon; then clear the process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Code servers exit by themselves when the heartbeat stops; don't leave them behind.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(3)


@pytest.fixture
def browser_page():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (uv sync installs the dev group)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = browser.new_context(viewport=VIEWPORT)
            # The "Join the Dagster community" dialog, answered as "Skip" would.
            context.add_init_script("window.localStorage.setItem('communityNux', '1');")
            context.set_default_timeout(UI_TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


class Shots:
    def __init__(self, directory: Path):
        self.directory = directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    def take(self, page, name: str, full_page: bool = False) -> Path:
        path = self.directory / name
        page.screenshot(path=str(path), full_page=full_page)
        return path


# The graph as drawn: asset nodes (name, box) and edge paths (first and last point).
GRAPH_DOM = """() => {
  const nodes = [];
  for (const fo of document.querySelectorAll('svg foreignObject')) {
    const label = fo.querySelector('[class*="AssetNode_assetName"] [data-tooltip]');
    if (!label) continue;
    const tags = [...fo.querySelectorAll('[class*="OpTags"], [role="img"][aria-label]')]
      .map(e => (e.getAttribute('aria-label') || '') + ' ' + e.textContent);
    nodes.push({name: label.getAttribute('data-tooltip'),
                x: +fo.getAttribute('x'), y: +fo.getAttribute('y'),
                w: +fo.getAttribute('width'), h: +fo.getAttribute('height'),
                tags: tags.join(' ').toLowerCase().replace(/\\s+/g, ''),
                text: fo.querySelector('div').innerText});
  }
  const edges = [...document.querySelectorAll('svg path[stroke*="lineage-edge"]')]
    .map(p => (p.getAttribute('d').match(/-?[\\d.]+/g) || []).map(Number));
  return {nodes, edges};
}"""


# The Checks tab lists each check with its status under the name: name -> that item's text.
CHECK_LIST_DOM = """(names) => {
  const out = {};
  for (const name of names) {
    const label = [...document.querySelectorAll('body *')]
      .find(e => e.children.length === 0 && e.textContent.trim() === name);
    let item = label, text = null;
    for (let i = 0; item && i < 6; i++, item = item.parentElement) {
      if (/Succeeded|Failed|Warning|Not evaluated|Errored|Skipped|Running/.test(item.innerText)) {
        text = item.innerText;
        break;
      }
    }
    out[name] = text;
  }
  return out;
}"""


def _edges_drawn(graph: dict) -> set[tuple[str, str]]:
    """Each edge path runs from the right side of its source to the left side of its target."""

    def nearest(x: float, y: float, side: str) -> tuple[float, str]:
        return min(
            (
                abs(x - (node["x"] + (node["w"] if side == "right" else 0)))
                + abs(y - (node["y"] + node["h"] / 2)),
                node["name"],
            )
            for node in graph["nodes"]
        )

    drawn = set()
    for points in graph["edges"]:
        assert len(points) >= 4, f"unexpected edge path {points}"
        start_gap, source = nearest(points[0], points[1], "right")
        end_gap, target = nearest(points[-2], points[-1], "left")
        # The edge's arrow head stops a few pixels short of the node; nodes are ~100 apart.
        assert start_gap < 40 and end_gap < 40, (points, source, target)
        drawn.add((source, target))
    return drawn


def _expected_graph() -> tuple[set[str], set[tuple[str, str]], dict[str, set[str]]]:
    from training_assets.definitions import build_definitions

    graph = build_definitions().get_repository_def().asset_graph
    names, edges, kinds = set(), set(), {}
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        names.add(name)
        kinds[name] = set(graph.get(key).kinds)
        edges |= {(parent.to_user_string(), name) for parent in graph.get(key).parent_keys}
    return names, edges, kinds


def _open_lineage(page, ui: DagsterUI) -> None:
    """The global lineage, navigation and asset tree hidden, every group expanded."""
    if page.url.startswith(ui.url):
        # Forget the zoom and expanded groups of an earlier visit: the same view every time.
        page.evaluate("window.localStorage.clear()")
    page.goto(f"{ui.url}/asset-groups", wait_until="networkidle")
    page.get_by_role("button", name=re.compile(r"Materialize all")).wait_for()
    nav = page.get_by_role("button", name="Hide navigation")
    if nav.is_visible():
        nav.click()
    # The asset tree sidebar ("Jump to..."); its toggle sits left of the search box.
    jump_to = page.get_by_placeholder(re.compile("^Jump to"))
    if jump_to.is_visible():
        page.locator("button:has([aria-label='panel_show_right'])").filter(
            has_not_text="navigation"
        ).first.click()
        jump_to.wait_for(state="hidden")
    box = page.locator("#zoom-slider-container").bounding_box()
    # Right click on the empty canvas, left of the zoom controls: the graph's context menu.
    page.mouse.click(box["x"] - 200, box["y"] + box["height"] - 20, button="right")
    page.get_by_role("menuitem", name=re.compile("(Expand|Collapse) all groups")).wait_for()
    expand = page.get_by_role("menuitem", name=re.compile("Expand all groups"))
    if expand.count():
        expand.click()
    else:  # already expanded (the choice is kept in the browser's local storage)
        page.keyboard.press("Escape")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)  # the zoom-to-fit animation
    # Full asset nodes (not the minimal ones of a zoomed-out graph) carry the names.
    page.locator("svg foreignObject [class*='AssetNode_assetName'] [data-tooltip]").first.wait_for()


def _metadata_row(page, key: str):
    """The row of a metadata table whose first cell is exactly `key`."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=key, exact=True)).first


STEP_STATS = """query ($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  stepStats { stepKey status } } } }"""


def _step_summary(ui: DagsterUI, run_id: str) -> str:
    steps = ui.graphql(STEP_STATS, {"runId": run_id})["runOrError"]["stepStats"]
    summary = [f"{step['stepKey']}: {step['status']}" for step in steps]
    return f"run {run_id} steps: {summary} (details: {ui.url}/runs/{run_id})"


def _latest_run(ui: DagsterUI) -> dict | None:
    runs = ui.graphql(RUNS)["runsOrError"]["results"]
    return runs[0] if runs else None


# browser_page first: without chromium, skip (or fail on CI) before starting dagster dev.
def test_lineage_materialize_all_checks_and_metrics(project, browser_page, dagster_ui):
    ui, page = dagster_ui, browser_page
    shots = Shots(ARTIFACTS / "browser")
    expected_names, expected_edges, expected_kinds = _expected_graph()
    started = time.monotonic()
    try:
        _run_ui_scenario(ui, page, shots, project, expected_names, expected_edges, expected_kinds)
    except BaseException:
        try:
            shots.take(page, "failure.png", full_page=True)
            (shots.directory / "dagster-dev.log").write_text(ui.log_tail(200_000))
        except Exception as error:  # the original failure matters more
            print(f"could not save the failure screenshot: {error}")
        raise
    print(f"browser scenario: {time.monotonic() - started:.1f}s; screenshots in {shots.directory}")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in README_SHOTS:
            shutil.copy(shots.directory / name, README_SCREENSHOTS / name)
        print(f"README screenshots updated in {README_SCREENSHOTS}")


def _run_ui_scenario(ui, page, shots, project, expected_names, expected_edges, expected_kinds):
    # GraphQL: the webserver serves the same graph as build_definitions().
    served = ui.graphql(ASSET_NODES)["assetNodes"]
    served_edges = {
        ("/".join(dep["path"]), "/".join(node["assetKey"]["path"]))
        for node in served
        for dep in node["dependencyKeys"]
    }
    assert {"/".join(node["assetKey"]["path"]) for node in served} == expected_names
    assert served_edges == expected_edges
    assert all(node["description"] for node in served)

    # 1. The lineage as drawn: every asset, every edge, the kinds on the nodes.
    _open_lineage(page, ui)
    graph = page.evaluate(GRAPH_DOM)
    drawn_names = {node["name"] for node in graph["nodes"]}
    assert drawn_names == expected_names, f"nodes drawn: {sorted(drawn_names)}"
    for name in expected_names:
        assert page.locator(f"[data-tooltip='{name}']").first.is_visible(), name
    assert len(graph["edges"]) == len(expected_edges), graph["edges"]
    assert _edges_drawn(graph) == expected_edges
    for node in graph["nodes"]:
        for kind in expected_kinds[node["name"]]:
            assert kind.replace("_", "") in node["tags"], (node["name"], kind, node["tags"])
    for group in ("sources", "features", "data", "model", "registry"):
        assert page.get_by_text(group, exact=True).first.is_visible(), group
    shots.take(page, "lineage-before.png")

    # 2. Materialize all: one run through the queue and the daemon, bounded.
    assert _latest_run(ui) is None
    button = page.get_by_role("button", name=re.compile(r"Materialize all"))
    button.click()
    run = _wait_for(lambda: _latest_run(ui), 60, "a run launched by 'Materialize all'")
    launched = time.monotonic()
    run = _wait_for(
        lambda: (latest := _latest_run(ui))["status"] in TERMINAL and latest,
        RUN_TIMEOUT_S,
        f"run {run['runId']} finished",
        interval=3,
    )
    print(
        f"'Materialize all' run {run['runId']}: {run['status']} in "
        f"{time.monotonic() - launched:.1f}s"
    )
    assert run["status"] == "SUCCESS", _step_summary(ui, run["runId"])
    assert len(ui.graphql(RUNS)["runsOrError"]["results"]) == 1

    # 3. The run page.
    page.goto(f"{ui.url}/runs/{run['runId']}", wait_until="networkidle")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    shots.take(page, "run.png")

    # Every check of the run passed: GraphQL, then each asset's Checks tab.
    for asset in CHECKED_ASSETS:
        node = ui.graphql(CHECKS, {"path": [asset]})["assetNodeOrError"]
        checks = node["assetChecksOrError"]["checks"]
        assert checks, asset
        for check in checks:
            execution = check["executionForLatestMaterialization"]
            assert execution and execution["runId"] == run["runId"], (asset, check)
            assert execution["status"] == "SUCCEEDED", (asset, check)
        names = sorted(check["name"] for check in checks)
        page.goto(f"{ui.url}/assets/{asset}?view=checks", wait_until="networkidle")
        page.get_by_text(f"Checks ({len(names)})").wait_for()
        page.get_by_text(names[-1], exact=True).first.wait_for()
        listed = page.evaluate(CHECK_LIST_DOM, names)
        for name in names:
            assert listed[name] and listed[name].split()[-1] == "Succeeded", (asset, listed)
        shots.take(page, f"checks-{asset}.png", full_page=True)

    # 4. model_metrics: the metrics of this run, the plots, the MLflow link.
    metrics = json.loads(project.stored("model_metrics").read_text())
    page.goto(f"{ui.url}/assets/model_metrics", wait_until="networkidle")
    page.get_by_text("Latest materialization").wait_for()
    for name in ("rmse", "mae"):
        row = _metadata_row(page, name)
        row.wait_for()
        # The UI prints the float as stored (JavaScript and Python agree on the digits).
        assert repr(metrics[name])[:8] in row.inner_text(), (name, metrics[name])
    assert metrics["rmse"] > 0 and 0 < metrics["mae"] <= metrics["rmse"], metrics
    # The MLflow run link (a url metadata value: an <a> whose text is the address).
    link = _metadata_row(page, "mlflow_run").locator("a[href*='/#/experiments/']").first
    link.wait_for()
    assert re.search(r"/#/experiments/\d+/runs/[0-9a-f]{32}$", link.get_attribute("href"))
    page.get_by_text("Owners").wait_for()
    page.wait_for_timeout(2000)  # the asset history bar loads last
    shots.take(page, "model_metrics.png")
    shots.take(page, "model_metrics-full.png", full_page=True)
    # The evaluation plots are Markdown images: open one, as a user would.
    for plot in ("predicted_vs_actual", "residuals"):
        _metadata_row(page, plot).get_by_text("Show Markdown").click()
        image = page.get_by_role("dialog").locator("img").first
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth > 100"), plot
        page.wait_for_timeout(500)
        shots.take(
            page,
            "model_metrics-plot.png"
            if plot == "predicted_vs_actual"
            else f"model_metrics-{plot}.png",
        )
        page.get_by_role("dialog").get_by_role("button", name="Close").click()
        page.get_by_role("dialog").wait_for(state="hidden")

    page.goto(f"{ui.url}/assets/registered_model_version", wait_until="networkidle")
    for key, value in (("version", "1"), ("aliases", "['champion']"), ("promoted", "True")):
        row = _metadata_row(page, key)
        row.wait_for()
        assert row.inner_text().split()[-1] == value, (key, value, row.inner_text())
    shots.take(page, "registered_model_version.png", full_page=True)

    # The lineage once materialized: the picture in docs/ui.md.
    _open_lineage(page, ui)
    page.get_by_text("Materialized").first.wait_for()
    page.wait_for_timeout(2000)
    graph = page.evaluate(GRAPH_DOM)
    for node in graph["nodes"]:
        if node["name"] in SOURCES:
            continue
        assert "Materialized" in node["text"], node
        passed = re.search(r"(\d+) / (\d+) Passed", node["text"])
        assert node["name"] not in CHECKED_ASSETS or (passed and passed[1] == passed[2]), node
    shots.take(page, "lineage.png")
