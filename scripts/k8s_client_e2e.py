#!/usr/bin/env python3
"""Run the kubernetes Python client's own end-to-end suite against a fresh sandbox.

kubernetes-client/python keeps an e2e suite in ``kubernetes/e2e_test``: unittest
classes that create, read, patch, watch and delete real objects through the client
against whatever cluster ``base.get_e2e_configuration()`` finds (the kubeconfig that
``$KUBECONFIG`` names). This script

1. finds the suite: in the installed ``kubernetes`` package if it ships it (the PyPI
   wheel and sdist do not), else in ``--suite DIR`` (a checkout of
   kubernetes-client/python, or its ``kubernetes/e2e_test`` directory);
2. copies it into a temporary directory, with a ``conftest.py`` that makes the copy
   importable as ``kubernetes.e2e_test`` (as the tests import it), records each
   test's outcome, and deselects the tests that need what the sandbox does not do
   (:data:`NOT_APPLICABLE`, each with its reason);
3. starts a sandbox in that directory, writes a kubeconfig for it and points
   ``KUBECONFIG`` at it, runs pytest on the copy, stops the sandbox;
4. prints how many tests passed, failed and were skipped, the failures, and the
   tests not applicable with their reasons. Exits 1 when a test failed, 2 when the
   suite is missing.

    .venv/bin/python scripts/k8s_client_e2e.py --suite ~/src/kubernetes-client-python
    .venv/bin/python scripts/k8s_client_e2e.py --suite DIR -k watch    # pytest's -k

Nothing of the suite is kept in this repository; ``~/.kube`` is never read or
written; the sandbox listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from kn_walk.sandbox import control

#: tests that need what the sandbox does not have, by pytest node id within the suite
NOT_APPLICABLE: dict[str, str] = {
    "test_client.py::TestClient::test_pod_apis": (
        "runs a busybox Pod, waits for it to run and execs into it: the sandbox runs "
        "only Knative Revisions' processes and cannot exec"
    ),
    "test_client.py::TestClient::test_pod_exec_close_channel": (
        "execs into a running busybox Pod: the sandbox runs no images and cannot exec"
    ),
    "test_client.py::TestClient::test_exit_code": (
        "execs commands in a running busybox Pod: the sandbox runs no images and cannot exec"
    ),
    "test_client.py::TestClient::test_portforward_raw": (
        "forwards to servers a Pod of the python image runs: the sandbox forwards only to "
        "Revisions' processes and its gateway"
    ),
    "test_client.py::TestClient::test_portforward_http": (
        "forwards to an nginx Pod: the sandbox runs no images"
    ),
    "test_utils.py::TestUtils::test_metrics_utilities_integration": (
        "needs a running busybox Pod and metrics-server's metrics.k8s.io API"
    ),
}

#: written next to the copied suite: the suite as ``kubernetes.e2e_test``, outcomes
#: recorded, the tests in NOT_APPLICABLE deselected
CONFTEST = """\
import json
import os
from pathlib import Path

import kubernetes

HERE = Path(__file__).parent
# the tests import their helpers as kubernetes.e2e_test, which the wheel does not ship
kubernetes.__path__.append(str(HERE / "kubernetes"))
NOT_APPLICABLE = json.loads(os.environ["E2E_NOT_APPLICABLE"])
OUTCOMES = {}


def _short(nodeid):
    return nodeid.split("e2e_test/", 1)[-1]


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        (dropped if _short(item.nodeid) in NOT_APPLICABLE else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_runtest_logreport(report):
    key = _short(report.nodeid)
    if report.when == "call" or report.outcome != "passed":
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            OUTCOMES[key] = {"outcome": "skipped", "detail": str(reason)}
        elif report.failed:
            OUTCOMES.setdefault(key, {"outcome": "failed", "detail": report.longreprtext})
        elif key not in OUTCOMES:
            OUTCOMES[key] = {"outcome": "passed", "detail": ""}


def pytest_sessionfinish(session, exitstatus):
    Path(os.environ["E2E_OUTCOMES"]).write_text(json.dumps(OUTCOMES, indent=1))
"""


def find_suite(given: Path | None) -> Path | None:
    """The ``e2e_test`` directory: the installed package's, else under ``given``."""
    spec = importlib.util.find_spec("kubernetes")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            shipped = Path(location) / "e2e_test"
            if (shipped / "base.py").is_file():
                return shipped
    if given is None:
        return None
    for candidate in (given, given / "e2e_test", given / "kubernetes" / "e2e_test"):
        if (candidate / "base.py").is_file():
            return candidate
    return None


def client_version() -> str:
    try:
        from kubernetes import __version__
    except ImportError:
        return "?"
    return str(__version__)


def first_line(text: str) -> str:
    """The first line of the exception that failed a test (pytest's ``E`` lines)."""
    for line in text.splitlines():
        if line.startswith("E ") and line[1:].strip():
            return line[1:].strip()
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--suite", type=Path, help="a kubernetes-client/python checkout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds for pytest")
    parser.add_argument("-k", dest="keyword", help="only the tests pytest's -k selects")
    args = parser.parse_args(argv)

    suite = find_suite(args.suite)
    if suite is None:
        version = client_version()
        where = f"{args.suite} has no e2e_test/base.py" if args.suite else "no --suite given"
        print(
            f"Error: the installed kubernetes {version} does not ship its e2e suite "
            f"(kubernetes/e2e_test is in the source repository only), and {where}.",
            file=sys.stderr,
        )
        print(
            "Hint: git clone --depth 1 --branch v"
            f"{version} https://github.com/kubernetes-client/python /tmp/k8s-client "
            "and run again with --suite /tmp/k8s-client",
            file=sys.stderr,
        )
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="k8s-client-e2e-"))
    state = tmp / "state"
    try:
        root = tmp / "suite"
        # the layout the suite reads its YAML files from: ./kubernetes/e2e_test/test_yaml
        shutil.copytree(suite, root / "kubernetes" / "e2e_test")
        (root / "conftest.py").write_text(CONFTEST)
        info, _ = control.start(state)
        kubeconfig = tmp / "kubeconfig"
        control.write_kubeconfig(info, kubeconfig)
        outcomes_file = tmp / "outcomes.json"
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "E2E_NOT_APPLICABLE": json.dumps(NOT_APPLICABLE),
            "E2E_OUTCOMES": str(outcomes_file),
        }
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--rootdir",
            str(root),
            "--import-mode=importlib",
            str(root / "kubernetes" / "e2e_test"),
        ]
        if args.keyword:
            cmd += ["-k", args.keyword]
        print(f"sandbox {info.api}; kubernetes client {client_version()}; suite {suite}")
        try:
            run = subprocess.run(cmd, cwd=root, env=env, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"Error: the suite ran over {args.timeout:g}s", file=sys.stderr)
            return 1
        if not outcomes_file.exists():
            print(f"Error: pytest exited {run.returncode} without results", file=sys.stderr)
            return 1
        outcomes: dict[str, dict[str, str]] = json.loads(outcomes_file.read_text())
    finally:
        control.stop(state)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    by: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for test, result in sorted(outcomes.items()):
        by[result["outcome"]].append(test)
    print()
    for test in by["failed"]:
        print(f"FAILED  {test}: {first_line(outcomes[test]['detail'])}")
    for test in by["skipped"]:
        print(f"SKIPPED {test}: {outcomes[test]['detail']}")
    print("\nNot applicable (deselected):")
    for test, reason in NOT_APPLICABLE.items():
        print(textwrap.fill(f"{test}: {reason}", 100, subsequent_indent="    "))
    print(
        f"\nkubernetes client e2e against the sandbox: {len(by['passed'])} passed, "
        f"{len(by['failed'])} failed, {len(by['skipped'])} skipped, "
        f"{len(NOT_APPLICABLE)} not applicable"
    )
    return 1 if by["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
