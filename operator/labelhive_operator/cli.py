"""The ``labelhive-operator`` command: ``render -f FILE``, ``run`` and ``delete-projects``."""

from __future__ import annotations

import argparse
import os
import sys

import yaml

#: the operator's liveness endpoint (kopf's --liveness)
LIVENESS = "http://0.0.0.0:8080/healthz"


def kopf_argv(namespaces: list[str]) -> list[str]:
    """Return the ``kopf run`` command line for the operator container.

    :param namespaces: namespaces to watch; empty means cluster-wide (``-A``).
    :return: argv for :func:`os.execvp`.
    """
    argv = [
        "kopf",
        "run",
        "--standalone",
        f"--liveness={LIVENESS}",
        "--log-format=json",
        "-m",
        "labelhive_operator.main",
    ]
    if namespaces:
        for ns in namespaces:
            argv += ["--namespace", ns]
    else:
        argv.append("--all-namespaces")
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script.

    :param argv: arguments (defaults to ``sys.argv[1:]``).
    :return: the exit status.
    """
    parser = argparse.ArgumentParser(prog="labelhive-operator")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="print the objects the operator would apply")
    render.add_argument("-f", "--filename", required=True, help="LabelingProject YAML ('-': stdin)")
    render.add_argument(
        "--with-secrets", action="store_true", help="also print generated Secrets (random values)"
    )
    run = sub.add_parser("run", help="run the operator (kopf run --standalone)")
    run.add_argument(
        "--namespace",
        action="append",
        default=[ns for ns in os.environ.get("WATCH_NAMESPACE", "").split(",") if ns],
        help="namespace to watch (repeatable; default $WATCH_NAMESPACE, else all)",
    )
    delete = sub.add_parser(
        "delete-projects",
        help="delete every LabelingProject in the watched namespaces (the chart's pre-delete hook)",
    )
    delete.add_argument(
        "--namespace",
        action="append",
        default=[ns for ns in os.environ.get("WATCH_NAMESPACE", "").split(",") if ns],
        help="namespace (repeatable; default $WATCH_NAMESPACE, else all)",
    )
    delete.add_argument("--wait", action="store_true", help="wait until they are gone")
    delete.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait (default 300)"
    )
    args = parser.parse_args(argv)
    if args.command == "delete-projects":
        if args.timeout < 0:
            parser.error("--timeout must be 0 or more seconds")
        from labelhive_operator import k8s
        from labelhive_operator import uninstall

        client = k8s.Client(k8s.new_api_client())
        return uninstall.delete_projects(
            client, args.namespace, wait=args.wait, timeout=args.timeout
        )
    if args.command == "render":
        from labelhive_operator.render import render_stream

        if args.filename == "-":
            docs = list(yaml.safe_load_all(sys.stdin))
        else:
            with open(args.filename, encoding="utf-8") as fh:
                docs = list(yaml.safe_load_all(fh))
        from labelhive_operator.validate import InvalidSpec

        try:
            count = render_stream(docs, sys.stdout, with_secrets=args.with_secrets)
        except InvalidSpec as e:
            print(f"invalid LabelingProject: {e}", file=sys.stderr)
            return 2
        if count == 0:
            print("no LabelingProject in input", file=sys.stderr)
            return 1
        return 0
    if args.namespace:
        os.environ["WATCH_NAMESPACE"] = ",".join(args.namespace)
    os.execvp("kopf", kopf_argv(args.namespace))
    return 0  # pragma: no cover  (execvp does not return)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
