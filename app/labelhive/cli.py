"""The ``labelhive`` command line.

Errors a user can fix exit with code 1 and one sentence on stderr; usage errors exit with 2.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import click
from flask import Flask

from labelhive.helping.cli import helping as helping_commands
from labelhive.plural import plural


@contextmanager
def app_context() -> Iterator[Flask]:
    from labelhive import create_app

    try:
        app = create_app()
    except RuntimeError as exc:  # e.g. SECRET_KEY missing outside embedded mode
        raise click.ClickException(str(exc)) from None
    with app.app_context():
        yield app


def _require_schema(app: Flask) -> None:
    """Embedded mode migrates by itself; a shared database is migrated by its migration Job."""
    from labelhive import migrate
    from labelhive.extensions import db

    if migrate.is_up_to_date(db.engine):
        return
    if app.config["EMBEDDED"]:
        migrate.upgrade(db.engine)
        return
    raise click.ClickException(
        "The database schema is not up to date: run `labelhive db upgrade` first."
    )


def _project(ref: str):  # noqa: ANN202
    from labelhive.projects import services as projects

    project = projects.by_id_or_short_name(ref)
    if project is None:
        raise click.ClickException(f"No project {ref!r} (give its id or short name).")
    return project


@click.group()
@click.version_option(package_name="labelhive")
def main() -> None:
    """LabelHive: crowd labeling with exact redundancy."""


main.add_command(helping_commands)


def default_workers(embedded: bool, cores: int | None) -> int:
    """``serve``'s gunicorn processes when ``--workers`` is not given (pure).

    SQLite serialises writers anyway: one. On PostgreSQL one per core (of 6 threads each):
    requests are CPU-bound, and more processes only contend. On the annotate benchmark (2 cores,
    32 annotators, PostgreSQL on the same cores) 2 x 6 gave the most loops/s and the shortest
    tail, claim p99 41-52 ms against 77-90 ms for 3 x 6 (a process descheduled for a time
    slice stalls every connection it holds) and more again for 5 x 8.
    """
    return 1 if embedded else cores or 1


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    envvar="LABELHIVE_WORKERS",
    help="gunicorn processes [default: one per core; 1 on SQLite; env LABELHIVE_WORKERS]",
)
@click.option(
    "--threads",
    default=6,
    show_default=True,
    type=click.IntRange(1, 64),
    envvar="LABELHIVE_THREADS",
    help="threads per process [env LABELHIVE_THREADS]",
)
@click.option("--dev", is_flag=True, help="Flask's development server (reloader, debugger off)")
@click.option("--demo", is_flag=True, help="create a demo project when the database is empty")
@click.option(
    "--with-proxy",
    is_flag=True,
    help="HAProxy (haproxy/haproxy.cfg) on HOST:PORT in front, as in the Pod: S3 images through it",
)
@click.option(
    "--app-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="gunicorn's loopback port behind --with-proxy (default: a free one)",
)
def serve(
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    dev: bool,
    demo: bool,
    with_proxy: bool,
    app_port: int,
) -> None:
    """Serve the web app and the API (gunicorn), optionally behind the HAProxy sidecar."""
    from labelhive import server

    # before anything imports prometheus_client: it picks its multiprocess mode at import
    server.prepare_metrics_dir()
    with app_context() as app:
        _require_schema(app)
        if demo:
            from labelhive import demo as demo_module

            created = demo_module.ensure_demo_project()
            if created:
                click.echo(f"Created the demo project {created.short_name!r}.")
        embedded = app.config["EMBEDDED"]
        config = dict(app.config)
    if workers is None:
        workers = default_workers(embedded, os.cpu_count())
    click.echo(f"LabelHive on http://{host}:{port}/ ({'SQLite' if embedded else 'PostgreSQL'})")
    haproxy = None
    if with_proxy:
        from labelhive.storage import proxy

        app_host, app_port = "127.0.0.1", app_port or _free_port()
        try:
            env = proxy.haproxy_env(config, listen=f"{host}:{port}", app=f"{app_host}:{app_port}")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            haproxy = proxy.HAProxy(env).start()
        except (OSError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
        # HAProxy gone means the site is gone: stop gunicorn too (it handles SIGTERM)
        haproxy.on_exit(lambda: os.kill(os.getpid(), signal.SIGTERM))
        click.echo(f"HAProxy on {host}:{port} -> gunicorn on {app_host}:{app_port}")
        host, port = app_host, app_port
    try:
        if dev:
            from labelhive import create_app

            create_app().run(host=host, port=port, threaded=True, use_reloader=False)
            return
        server.run(host, port, workers, threads)
    finally:
        if haproxy is not None:
            haproxy.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION (default: head)."""
    from labelhive import migrate
    from labelhive.extensions import db as database

    with app_context():
        migrate.upgrade(database.engine, revision)
        click.echo(f"Database at revision {migrate.current_revision(database.engine)}.")


@db.command("current")
def db_current() -> None:
    """Print the schema revision."""
    from labelhive import migrate
    from labelhive.extensions import db as database

    with app_context():
        click.echo(migrate.current_revision(database.engine) or "empty")


@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("names", nargs=-1, required=True)
@click.option("--admin", is_flag=True, help="make the users admins")
@click.option("--password", default=None, help="password for every user (else API-only users)")
@click.option(
    "--api-key-from-env",
    "api_key_env",
    default=None,
    metavar="VAR",
    help="take the API key from this environment variable (one user only)",
)
@click.option("--exist-ok", is_flag=True, help="update an existing user instead of failing")
def users_create(
    names: tuple[str, ...],
    admin: bool,
    password: str | None,
    api_key_env: str | None,
    exist_ok: bool,
) -> None:
    """Create users and print one `NAME API_KEY` line each, for onboarding in bulk."""
    from labelhive.accounts import services as accounts
    from labelhive.accounts.models import hash_api_key
    from labelhive.extensions import db as database

    api_key = None
    if api_key_env:
        if len(names) != 1:
            raise click.UsageError("--api-key-from-env takes exactly one user name.")
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise click.ClickException(f"The environment variable {api_key_env} is empty.")
    with app_context() as app:
        _require_schema(app)
        lines = []
        try:
            for name in names:
                user = accounts.by_name(name) if exist_ok else None
                if user is None:
                    user = accounts.create_user(
                        name, password=password, admin=True if admin else None, api_key=api_key
                    )
                else:
                    user.admin = user.admin or admin
                    if api_key and user.api_key_hash != hash_api_key(api_key):
                        accounts.regenerate_api_key(user, api_key)
                    elif api_key:
                        user.api_key = api_key
                    if password:
                        user.set_password(password)
                # only a hash is stored: an existing user's key is printed when it was given
                lines.append(f"{user.name} {user.api_key or '(key unchanged)'}")
        except accounts.AccountError as exc:
            database.session.rollback()
            raise click.ClickException(str(exc)) from None
        database.session.commit()
    click.echo("\n".join(lines))


@users.command("ldap-recheck")
def users_ldap_recheck() -> None:
    """Apply the directory's groups of now to the accounts that signed in through LDAP.

    Run it every few minutes (cron, a Kubernetes CronJob): someone who left the directory or its
    allowed groups is disabled, and loses their sessions and API key, without waiting for them
    to sign in again.
    """
    from labelhive.accounts.identity import ldap
    from labelhive.accounts.identity import services as identity
    from labelhive.extensions import db as database

    with app_context() as app:
        _require_schema(app)
        settings = app.extensions.get("labelhive.ldap")
        if settings is None:
            raise click.ClickException("LDAP sign-in is not configured (LDAP_URL is unset).")
        try:
            done = identity.recheck(
                "ldap", settings.url, lambda s: ldap.groups_of(settings, s), settings.group_roles
            )
        except identity.IdentityRefused as exc:
            raise click.ClickException(exc.message) from None
        database.session.commit()
    click.echo(
        f"checked {done.checked}, disabled {done.disabled}, roles removed {done.roles_removed}"
    )


@users.command("oidc-recheck")
def users_oidc_recheck() -> None:
    """Ask the OpenID provider about every account that signed in through it, now.

    The scheduler runs this every OIDC_RECHECK_INTERVAL seconds. Someone the provider no longer
    vouches for (disabled or removed there, session revoked) or who left the allowed groups is
    disabled and loses their sessions and API key; the others' roles follow their groups.
    Exits with 1 when the provider could not be asked (nobody unchecked was changed).
    """
    from labelhive.accounts.identity import jobs
    from labelhive.accounts.identity import oidc

    with app_context() as app:
        _require_schema(app)
        settings = oidc.configured()
        if settings is None:
            raise click.ClickException(
                "OpenID Connect sign-in is not configured (OIDC_ISSUER is unset)."
            )
        done = jobs.run_recheck(settings)
    click.echo(done.line())
    if done.error:
        raise click.ClickException(f"The identity provider could not be asked: {done.error}.")


@main.group()
def projects() -> None:
    """Labeling projects."""


@projects.command("create")
@click.argument("short_name")
@click.option("--name", default=None, help="display name (default: the short name)")
@click.option("--owner", required=True, help="user name of the owner")
@click.option("--question", default="", help="the question annotators answer")
@click.option("--answers", default="", help="comma-separated answer options")
@click.option("--redundancy", type=int, default=3, show_default=True)
@click.option("--lease-ttl", type=int, default=600, show_default=True, help="seconds")
@click.option("--publish", is_flag=True, help="open the project to annotators")
def projects_create(
    short_name: str,
    name: str | None,
    owner: str,
    question: str,
    answers: str,
    redundancy: int,
    lease_ttl: int,
    publish: bool,
) -> None:
    """Create a project and print its id."""
    from labelhive.accounts import services as accounts
    from labelhive.extensions import db as database
    from labelhive.projects import services as projects_service

    with app_context() as app:
        _require_schema(app)
        user = accounts.by_name(owner)
        if user is None:
            raise click.ClickException(
                f"No user {owner!r}: create it with `labelhive users create`."
            )
        info: dict[str, object] = {"question": question}
        if answers:
            info["answers"] = [a.strip() for a in answers.split(",")]
        title = name or short_name
        values = {
            "name": title,
            "short_name": short_name,
            "info": info,
            "default_n_answers": redundancy,
            "lease_ttl": lease_ttl,
            "published": publish,
        }
        try:
            if projects_service.name_taken(title, short_name):
                raise projects_service.ProjectError(
                    f"A project named {title!r} or {short_name!r} exists already."
                )
            project = projects_service.create_project(user, values)
        except projects_service.ProjectError as exc:
            database.session.rollback()
            raise click.ClickException(str(exc)) from None
        database.session.commit()
        click.echo(project.id)


@main.command("import")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default=None)
@click.option("--redundancy", type=int, default=None, help="answers needed per task")
@click.option("--priority", type=float, default=None)
def import_command(
    project_ref: str, file: Path, fmt: str | None, redundancy: int | None, priority: float | None
) -> None:
    """Import tasks from a CSV, JSON or JSONL FILE of image URLs, all or nothing."""
    from labelhive.extensions import db as database
    from labelhive.imports import parsers as importers
    from labelhive.imports import writer as tasks
    from labelhive.tasks import rules
    from labelhive.tasks import schemas

    with app_context() as app, ExitStack() as stack:
        _require_schema(app)
        project = _project(project_ref)
        try:
            if redundancy is not None:
                redundancy = rules.validate_n_answers(redundancy)
            handle = stack.enter_context(file.open("rb"))
            fmt = fmt or importers.detect_format(file.name, None, handle.read(4096))
            handle.seek(0)
            # about one task per line: the bar's length without parsing the file twice
            estimate = max(_lines(handle), 1)
            # parsed while it is written, in one transaction: a bad row anywhere rolls it all
            # back; a CSV file is read as it is parsed, in flat memory whatever its size
            specs = importers.iter_tasks(handle, fmt, **schemas.import_checks(project, app.config))
            with click.progressbar(length=estimate, label="Importing", file=sys.stderr) as bar:
                done = 0

                def progress(count: int) -> None:
                    nonlocal done
                    bar.update(count - done)
                    done = count

                count = tasks.import_tasks(
                    project, specs, n_answers=redundancy, priority_0=priority, progress=progress
                )
        except ValueError as exc:  # ImportFormatError is a ValueError
            database.session.rollback()
            raise click.ClickException(f"{file.name}: {exc}") from None
        short_name = project.short_name
        database.session.commit()
    click.echo(f"Imported {plural(count, 'task')} into {short_name}.")


def _lines(handle: BinaryIO) -> int:
    """The newlines in a file, read in pieces; the file is left at its start."""
    count = 0
    while piece := handle.read(1 << 20):
        count += piece.count(b"\n")
    handle.seek(0)
    return count


@main.command("import-s3")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("url", metavar="s3://BUCKET/PREFIX/")
@click.option(
    "--ext",
    default="jpg,jpeg,png,gif,webp,avif",
    show_default=True,
    help="comma-separated extensions to import ('' for every object)",
)
@click.option("--redundancy", type=int, default=None, help="answers needed per task")
def import_s3_command(project_ref: str, url: str, ext: str, redundancy: int | None) -> None:
    """Create a task for every object under s3://BUCKET/PREFIX/ that the project lacks.

    Re-running imports only the objects added since. Credentials come from boto3's chain
    (environment, IRSA web identity, ...); S3_ENDPOINT_URL points at a VPC endpoint or MinIO.
    """
    from labelhive.imports import s3_prefix as importer
    from labelhive.storage import s3
    from labelhive.tasks import rules

    try:
        bucket, prefix = s3.parse_s3_prefix(url)
        if redundancy is not None:
            redundancy = rules.validate_n_answers(redundancy)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with app_context() as app:
        _require_schema(app)
        project = _project(project_ref)
        project_id, short_name = project.id, project.short_name

        def progress(summary: importer.ImportSummary) -> None:
            click.echo(
                f"{summary.listed} objects listed, {summary.imported} tasks imported",
                err=True,
            )

        try:
            summary = importer.import_prefix(
                project_id, bucket, prefix, ext, progress, n_answers=redundancy
            )
        except importer.S3ImportError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Imported {plural(summary.imported, 'task')} into {short_name} from {url} "
        f"({summary.skipped} already there, {summary.listed - summary.matched} not matching)."
    )


@main.command("export")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--what", type=click.Choice(["tasks", "answers", "results"]), default="answers")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_command(project_ref: str, what: str, fmt: str, output: Path | None) -> None:
    """Stream a project's tasks, answers or results to a file (or stdout)."""
    from labelhive.exports import exports
    from labelhive.extensions import db as database

    with app_context() as app:
        _require_schema(app)
        project = _project(project_ref)
        chunks = exports.stream_export(database.engine, project.id, what, fmt)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        # write beside the target and rename, so a failed export never looks complete
        partial = output.with_name(output.name + ".partial")
        try:
            with (
                partial.open("wb") as fh,
                click.progressbar(chunks, label=f"Exporting {what}", file=sys.stderr) as bar,
            ):
                for chunk in bar:
                    fh.write(chunk)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise click.ClickException(f"Could not write {output}: {exc.strerror}") from None
    click.echo(f"Wrote {output}.", err=True)


@main.command()
@click.option(
    "--queues",
    "queue_names",
    default="high,default,low",
    show_default=True,
    help="comma-separated queues, in priority order",
)
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=0, help="serve /metrics")
def worker(queue_names: str, burst: bool, metrics_port: int) -> None:
    """Run a background worker (RQ, through Redis Sentinel)."""
    import logging

    from labelhive.jobs import worker as worker_module

    try:
        names = worker_module.parse_queues(queue_names)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with app_context() as app:
        _require_schema(app)
        try:
            worker_module.run(app, names, burst=burst, metrics_port=metrics_port)
        except LookupError:
            raise click.ClickException(
                "No Redis configured: set REDIS_SENTINELS or REDIS_URL (without Redis, jobs run"
                " inside `labelhive serve`)."
            ) from None


@main.command()
def scheduler() -> None:
    """Run the periodic jobs: lease sweep, statistics, consensus, export clean-up."""
    import logging

    from labelhive.jobs import scheduler as scheduler_module

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with app_context() as app:
        _require_schema(app)
        scheduler_module.run(app)


@main.command()
def sweep() -> None:
    """Delete expired leases once (the scheduler does this periodically)."""
    from labelhive.annotation import service

    with app_context():
        click.echo(f"Swept {service.sweep_expired()} expired leases.")


@main.command()
@click.option("--project", "project_ref", default=None, help="check one project (id or short name)")
@click.option(
    "--lease-grace",
    default=600,
    show_default=True,
    type=click.IntRange(0),
    help="seconds an expired lease may outlive its expiry before it is an orphan",
)
def check(project_ref: str | None, lease_grace: int) -> None:
    """Check that task counters, states, leases and results agree with the stored rows.

    Exits with 1 and one sentence per problem when they do not.
    """
    import datetime as dt

    from labelhive.annotation import consistency
    from labelhive.extensions import db as database

    with app_context() as app:
        _require_schema(app)
        project_id = None if project_ref is None else _project(project_ref).id
        database.session.rollback()
        report = consistency.check(
            database.engine, project_id=project_id, lease_grace=dt.timedelta(seconds=lease_grace)
        )
    for problem in report.problems:
        click.echo(problem, err=True)
    if report.unlisted:
        click.echo(f"... and {report.unlisted} more.", err=True)
    if not report.ok:
        raise click.ClickException(report.summary())
    click.echo(report.summary())


if __name__ == "__main__":  # pragma: no cover
    main()
