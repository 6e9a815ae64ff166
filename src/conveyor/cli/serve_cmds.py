"""``conveyor serve``: serve registered models over HTTP (v2, v1 and MLflow protocols)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from conveyor.serving.batching import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_WAIT_S
from conveyor.serving.limits import LIMIT_CONCURRENCY, READ_TIMEOUT_S

if TYPE_CHECKING:
    from conveyor.context import Context
    from conveyor.monitoring.alerts.service import MonitorThread


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve)


def serve(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A registered version: NAME@ALIAS, NAME/3 (models:/ optional). Repeatable. "
            "Default: every model with a routing table (conveyor traffic set).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback unless you say otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processes.")] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log one line per request (off by default).")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Seconds a prediction may take (504).")
    ] = 30.0,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.001, help="Largest request body (413).")
    ] = 10.0,
    log_predictions: Annotated[
        bool,
        typer.Option(
            "--log-predictions/--no-log-predictions",
            help="Write every answered prediction (and shadow) as Parquet into the artifact "
            "store, for monitoring.",
        ),
    ] = True,
    log_sample_rate: Annotated[
        float,
        typer.Option("--log-sample-rate", min=0.0, max=1.0, help="Share of requests logged."),
    ] = 1.0,
    log_mask: Annotated[
        list[str] | None,
        typer.Option("--log-mask", help="An input field stored as *** in the log. Repeatable."),
    ] = None,
    log_window: Annotated[
        float,
        typer.Option("--log-window", min=0.001, help="Seconds per prediction log file."),
    ] = 60.0,
    profiles: Annotated[
        bool,
        typer.Option(
            "--profiles/--no-profiles",
            help="Count every request's inputs and predictions into per-window profiles in the "
            "metadata store (the reference profile's bins and sketches), for live drift.",
        ),
    ] = True,
    profile_window: Annotated[
        int,
        typer.Option("--profile-window", min=1, max=3600, help="Seconds per live profile window."),
    ] = 60,
    profile_max_features: Annotated[
        int,
        typer.Option(
            "--profile-max-features", min=1, help="Most features profiled per model version."
        ),
    ] = 100,
    max_batch_size: Annotated[
        int,
        typer.Option(
            "--max-batch-size",
            min=1,
            help="Most rows concurrent requests to one version share in a model call; 1: off.",
        ),
    ] = DEFAULT_MAX_BATCH_SIZE,
    max_batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-batch-wait-ms",
            min=0.0,
            max=1000.0,
            help="Longest a model call waits for more requests, only under concurrent load.",
        ),
    ] = DEFAULT_MAX_WAIT_S * 1000,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            min=0.001,
            help="Seconds a client may take to send a request's head, and again its body "
            "(then the connection is closed; 408 for the body).",
        ),
    ] = READ_TIMEOUT_S,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            "--limit-concurrency",
            min=1,
            help="Most connections (or requests) at once; past it, new ones get 503.",
        ),
    ] = LIMIT_CONCURRENCY,
    monitor: Annotated[
        bool,
        typer.Option(
            "--monitor/--no-monitor",
            help="Run the alert rules of conveyor.yaml (monitor: alerts:) in this process; "
            "one process leads at a time.",
        ),
    ] = True,
) -> None:
    """Serve registered model versions until Ctrl-C, on uvicorn with uvloop and httptools.

    Every model with a routing table is served by its table (weights, sticky keys), and a
    change made with `conveyor traffic` takes effect without a restart: new versions are
    loaded and warmed first. Example: conveyor serve --model churn@champion --port 8080
    """
    from conveyor.cli.context import command_context
    from conveyor.monitoring.profile_options import ProfileOptions
    from conveyor.serving.batching import BatchPolicy
    from conveyor.serving.metrics import GatewayMetrics
    from conveyor.serving.predlog import LogOptions
    from conveyor.serving.server import ServeOptions, check_port_free, run_server
    from conveyor.serving.watcher import build_gateway, build_observers

    ctx = command_context()  # `conveyor serve`'s composition root
    options = ServeOptions(
        models=tuple(model or ()),
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        request_timeout_s=timeout,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        log=LogOptions(log_predictions, log_sample_rate, tuple(log_mask or ()), log_window),
        batching=BatchPolicy(max_batch_size, max_batch_wait_ms / 1000),
        read_timeout_s=read_timeout,
        limit_concurrency=limit_concurrency,
        profiles=ProfileOptions(
            profiles, profile_window, profile_max_features, tuple(log_mask or ())
        ),
    )
    check_port_free(host, port)  # before the models load: seconds sooner
    alerting = _monitor_thread(ctx) if monitor else None  # a bad rule or target stops startup
    pool, router, watcher = build_gateway(options.models, ctx)
    for served in pool.all():
        typer.echo(
            f"serving {served.name}/{served.version} ({served.flavor}, "
            f"loaded in {served.load_seconds:.2f} s)"
        )
    for table in router.tables().values():
        routes = " ".join(f"{r.version}={table.share(r.version):.0%}" for r in table.routes)
        typer.echo(f"routing {table.model}: {routes} (revision {table.revision})")
    if log_predictions:
        typer.echo(f"logging {log_sample_rate:.0%} of predictions to {ctx.artifacts_url}")
    if profiles:
        typer.echo(
            f"profiling inputs and predictions per {profile_window} s window (at most "
            f"{profile_max_features} features per version) into the metadata store"
        )
    batching = options.batching
    if batching.enabled:
        typer.echo(
            f"batching up to {batching.max_batch_size} rows per model call, waiting at most "
            f"{batching.max_wait_s * 1000:g} ms under concurrent load"
        )
    if alerting is not None:
        every = alerting.loop.config.interval_s
        typer.echo(
            f"monitoring {len(alerting.loop.config.alerts)} alert rule(s) every {every:g} s "
            "(one leader across processes)"
        )
    typer.echo(f"listening on {options.url} with {workers} worker(s); Ctrl-C stops")
    metrics = GatewayMetrics() if workers == 1 else None  # workers make their own
    observers = (
        build_observers(pool, router, ctx, options.log, metrics, profiles=options.profiles)
        if metrics
        else None
    )
    from conveyor.serving.rollout_checks import ControllerThread

    # the rollout controller: leads the models this gateway routes, and any no other leads;
    # a step it takes is applied here at once (with --workers N, each worker's watcher
    # applies it at its next poll, within two seconds)
    rollouts = ControllerThread(ctx, serves=lambda: list(router.tables()), routed=watcher.poke)
    rollouts.start()
    if alerting is not None:
        alerting.start()
    try:
        closing = [observers.close] if observers else []
        watching = observers.all() if observers else ()
        outcomes = observers.outcomes if observers else None
        labels = observers.labels if observers else None
        profiled = observers.profiles if observers else None
        run_server(pool, options, router, watching, closing, metrics, outcomes, labels, profiled)
    finally:
        if alerting is not None:
            alerting.stop()
        rollouts.stop()
        watcher.stop()
        if observers is not None:
            observers.close()


def _monitor_thread(ctx: Context) -> MonitorThread | None:
    from conveyor.monitoring.alerts.service import MonitorThread

    return MonitorThread.for_project(ctx)
