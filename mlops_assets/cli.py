"""The `mlops` command line. Heavy libraries are imported inside each command, so `--help` and
argument errors answer at once.

Every command exits non-zero with a one-line reason on bad arguments (2) or missing state (1).
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from mlops_assets.keys import CUSTOMER_FEATURES, TRAINING_SET, VALIDATED_TRANSACTIONS
from mlops_assets.ops.instance import CommandError, has_table, open_instance, open_lake, open_registry
from mlops_assets.ops.servers import exporter_command, serve_command, start_dagster, start_server
from mlops_assets.ops.status import status_lines
from mlops_assets.settings import Settings


class OneLineParser(argparse.ArgumentParser):
    """argparse, but errors are one line naming the command, then exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise usage_error(self.prog, message)


def usage_error(prog: str, message: str) -> SystemExit:
    """Say what is wrong with the arguments in one line; the caller raises the exit (status 2)."""
    sys.stderr.write(f"{prog}: error: {message} (see `{prog} --help`)\n")
    return SystemExit(2)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


def _version(text: str) -> str:
    """A registered version's number, as the registry names it."""
    if not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a version number such as 7, got {text!r}")
    return str(int(text))


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="mlops", description="Card transactions to a served fraud model, as Dagster assets.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    generate = commands.add_parser("generate", help="write synthetic transactions into the landing folder")
    generate.add_argument("--start", type=_day, help="first day, YYYY-MM-DD")
    generate.add_argument("--days", type=_positive_int, default=1, help="number of days (default 1)")
    generate.add_argument("--rows-per-day", type=_positive_int, default=10_000, help="rows per day (default 10000)")
    generate.add_argument("--scenario", default="baseline", help="see --list-scenarios (default baseline)")
    generate.add_argument("--seed", type=int, default=0, help="the same seed writes the same bytes (default 0)")
    generate.add_argument("--out", type=Path, help="folder to write to (default: the landing folder)")
    generate.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format")
    generate.add_argument(
        "--unlabelled-share",
        type=_share,
        default=0.0,
        help="share of rows whose is_fraud is left empty, as for labels not known yet",
    )
    generate.add_argument("--list-scenarios", action="store_true", help="name the scenarios and exit")
    generate.add_argument("--truth", action="store_true", help="print the generator's causal graph as JSON and exit")

    imported = commands.add_parser(
        "import", help="map a foreign table (Parquet or CSV, other column names) onto the landing contract and land it"
    )
    imported.add_argument("sources", nargs="+", type=Path, metavar="SOURCE", help="files, or folders of them")
    imported.add_argument(
        "--map",
        default="",
        metavar="CONTRACT=SOURCE,...",
        help="contract column = source column pairs; a contract column the source has by name needs none",
    )
    imported.add_argument(
        "--timezone",
        default="UTC",
        help="the time zone of naive timestamps, and of the calendar features (default UTC)",
    )
    imported.add_argument("--start", type=_day, help="land only days from this one, YYYY-MM-DD")
    imported.add_argument("--end", type=_day, help="land only days up to this one, YYYY-MM-DD")
    imported.add_argument(
        "--label-delay", help="how long after a transaction its label is known, like 7d (default: the setting, 3d)"
    )

    commands.add_parser("ingest", help="ingest every pending landing file through Dagster and print counts per file")

    backfill = commands.add_parser(
        "backfill",
        help="build the whole history through Dagster: ingest pending files, features of every day that lacks "
        "them (oldest first), then the first champion when there is none",
    )
    _training_window_arguments(backfill)

    demo = commands.add_parser(
        "demo",
        help="the main job: history, a champion, then drifted days through the Dagster daemon until a "
        "retraining promotes, then the new champion served and scored over HTTP",
    )
    demo.add_argument("--history-days", type=_positive_int, default=35, help="days of baseline history (default 35)")
    demo.add_argument("--rows-per-day", type=_positive_int, default=3_000, help="rows per day (default 3000)")
    demo.add_argument("--ordinary-days", type=int, default=1, help="baseline days through the daemon first (default 1)")
    demo.add_argument(
        "--drift-days",
        type=_positive_int,
        # A retraining on the 2nd drifted day, a shadow day, then the canary's daily looks: run on
        # 2026-12-07, the default's canary was promoted on its 6th day (the 9th drifted day).
        default=12,
        help="most drifted days landed, until a new champion is promoted (default 12)",
    )
    demo.add_argument("--scenario", default="concept_drift", help="the drifted days' scenario (default concept_drift)")
    demo.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    demo.add_argument(
        "--last-day",
        type=_day,
        help="the last day it may land, YYYY-MM-DD (default today, UTC): with --seed, the same story every time",
    )
    demo.add_argument("--port", type=_positive_int, default=3000, help="Dagster UI port while it runs (default 3000)")
    demo.add_argument(
        "--serve-port", type=_positive_int, default=3001, help="serving API port for the last step (default 3001)"
    )

    up = commands.add_parser(
        "up", help="start the Dagster UI with its sensors running and the serving API, until Ctrl-C"
    )
    up.add_argument("--port", type=_positive_int, default=3000, help="Dagster UI port (default 3000)")
    up.add_argument("--serve-port", type=_positive_int, default=3001, help="serving API port (default 3001)")
    up.add_argument(
        "--exporter-port", type=_positive_int, default=3002, help="pipeline metrics exporter port (default 3002)"
    )
    up.add_argument(
        "--prometheus-port", type=_positive_int, default=9090, help="Prometheus port, rules loaded (default 9090)"
    )

    exporter = commands.add_parser(
        "exporter", help="serve the pipeline's metrics (drift, champion, runs, checks, quarantine) for Prometheus"
    )
    exporter.add_argument("--port", type=_positive_int, default=3002, help="port (default 3002)")
    exporter.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a pod)"
    )
    exporter.add_argument(
        "--refresh", type=float, default=15.0, help="seconds between reads of the lake, registry and instance"
    )

    serve = commands.add_parser("serve", help="serve the champion model over HTTP")
    serve.add_argument("--port", type=_positive_int, default=3001, help="port (default 3001)")

    commands.add_parser("status", help="champion and challenger, last drift verdict, last retraining")

    retrain = commands.add_parser(
        "retrain", help="train the three candidates on the latest window, evaluate, and promote one if it passes"
    )
    _training_window_arguments(retrain)
    retrain.add_argument(
        "--reason",
        choices=("initial", "manual", "schedule"),
        help="the versions' reason tag (default: initial while there is no champion, else manual)",
    )

    rollout = commands.add_parser(
        "rollout", help="a staged rollout by hand: status, start VERSION, canary, promote or abort"
    )
    rollout.add_argument("action", choices=("status", "start", "canary", "promote", "abort"))
    rollout.add_argument("version", nargs="?", help="with start: the registered version to roll out")
    rollout.add_argument(
        "--stage", choices=("shadow", "canary"), default="shadow", help="with start: the first stage (default shadow)"
    )
    rollout.add_argument(
        "--share", type=_share, default=0.1, help="the share of customers a canary answers (default 0.1)"
    )
    score = commands.add_parser(
        "score", help="score every transaction of a day through Dagster (scoring_job) and print its queue's head"
    )
    score.add_argument("--day", type=_day, required=True, help="the day to score, YYYY-MM-DD")
    score.add_argument("--version", type=_version, help="a registered version to score with (default: the champion)")
    score.add_argument(
        "--capacity", type=_positive_int, default=100, help="cards the investigators check a day (default 100)"
    )
    rollback = commands.add_parser("rollback", help="move the champion alias back to the previous champion")
    rollback.add_argument("--to", metavar="VERSION", help="a version that was champion before (default: the last one)")

    commands.add_parser(
        "env", help='print the state variables as shell exports, for `eval "$(mlops env)"` before feast or dagster'
    )
    return parser


def _training_window_arguments(parser: argparse.ArgumentParser) -> None:
    """The training set's window, as `training_set`'s run config takes it."""
    parser.add_argument("--days", type=_positive_int, help="days of labelled transactions in the window (default 28)")
    parser.add_argument("--end-day", type=_day, help="the window's last day, YYYY-MM-DD (default: the latest)")
    parser.add_argument("--holdout-days", type=_positive_int, help="last days held out for evaluation (default 7)")
    parser.add_argument(
        "--gap-days",
        type=int,
        help="days between training and holdout used by neither, e.g. the label delay (default 0)",
    )


def _training_config(args: argparse.Namespace) -> dict:
    """`training_set`'s run config from the window arguments given."""
    fields = {"days": args.days, "holdout_days": args.holdout_days, "gap_days": args.gap_days}
    config = {name: value for name, value in fields.items() if value is not None}
    if args.end_day:
        config["end_day"] = args.end_day.isoformat()
    return {TRAINING_SET: {"config": config}} if config else {}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    # Child libraries (dagster, mlflow, bentoml) read these: one state root for all of them.
    os.environ.update(settings.export())
    # MLflow logs how it packages each model's environment (at INFO, and a WARNING that pip is
    # absent from uv's environment): nothing to act on in a terminal.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    try:
        return COMMANDS[args.command](args, settings) or 0
    except CommandError as error:
        sys.stderr.write(f"mlops {args.command}: {error}\n")
        return 1


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.synth import generator

    if args.list_scenarios:
        for name, description in generator.SCENARIOS.items():
            print(f"{name}: {description}")
        return 0
    if args.truth:
        print(generator.truth_json())
        return 0
    if args.start is None:
        raise usage_error("mlops generate", "--start YYYY-MM-DD is required (or --list-scenarios, --truth)")
    if args.scenario not in generator.SCENARIOS:
        raise usage_error(
            "mlops generate", f"unknown scenario {args.scenario!r}; choose from {', '.join(generator.SCENARIOS)}"
        )
    out = args.out or settings.landing_dir
    started = time.perf_counter()
    result = generator.generate(
        args.start,
        args.days,
        args.rows_per_day,
        out,
        scenario=args.scenario,
        seed=args.seed,
        file_format=args.format,
        unlabelled_share=args.unlabelled_share,
    )
    seconds = time.perf_counter() - started
    print(
        f"wrote {result.rows:,} rows ({result.fraud_rows:,} fraud) in {len(result.files)} file(s) to {out} "
        f"in {seconds:.1f} s ({result.rows / seconds:,.0f} rows/s)"
    )
    if result.faults:
        print("faults injected: " + json.dumps(dict(sorted(result.faults.items()))))
    for path in result.rejected_files:
        print(f"written to be rejected: {path.name}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from mlops_assets.lib import importer
    from mlops_assets.lib.featurize.feature_spec import parse_window
    from mlops_assets.settings import given_variables, write_project_file

    try:
        ZoneInfo(args.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise usage_error("mlops import", f"unknown time zone {args.timezone!r} (an IANA name, like UTC)") from None
    try:
        mapping = importer.parse_mapping(args.map)
        if args.label_delay:
            parse_window(args.label_delay)
    except ValueError as error:
        raise usage_error("mlops import", str(error)) from None
    if args.start and args.end and args.start > args.end:
        raise usage_error("mlops import", f"--start {args.start} is after --end {args.end}")
    try:
        result = importer.import_tables(
            args.sources, mapping, settings.landing_dir, timezone=args.timezone, start=args.start, end=args.end
        )
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from error
    if not result.files:
        raise CommandError(f"no row of {result.rows_read:,} lies in the days asked for: nothing landed")
    absent = [c for c in ("merchant_category", "channel", "card_present", "country") if c not in result.columns]
    print("mapped: " + ", ".join(f"{contract} <- {source}" for contract, source in mapping.items()))
    if absent:
        print(f"optional columns absent: {', '.join(absent)} (the models do without their features)")
    print(
        f"read {result.rows_read:,} rows; landed {result.rows_landed:,} in {len(result.files)} file(s) "
        f"in {settings.landing_dir}"
        + (f"; {result.rows_outside:,} outside --start/--end" if result.rows_outside else "")
    )
    project = given_variables(settings.home)
    values = {"MLOPS_TIMEZONE": args.timezone}
    if args.label_delay:
        values["MLOPS_LABEL_DELAY"] = args.label_delay
    categories = result.common_categories()
    if categories:
        values["MLOPS_MERCHANT_CATEGORIES"] = ",".join(categories)
    if result.first_day and ("MLOPS_PARTITIONS_START" not in project or result.first_day < settings.partitions_start):
        values["MLOPS_PARTITIONS_START"] = result.first_day
    path = write_project_file(settings.home, values)
    print(
        f"days {result.first_day}..{result.last_day}; settings for this data in {path}: "
        + ", ".join(f"{name}={value}" for name, value in values.items())
    )
    refused = sum(result.refusals.values())
    if refused:
        print("validation will quarantine rows for these reasons (rows):")
        for reason, count in result.refusals.most_common():
            print(f"    {reason}: {count:,}")
    else:
        print("validation will quarantine no row")
    print("next: `mlops ingest` lands every day through Dagster, `mlops retrain` trains the first champion")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.ingest import ingest

    if not settings.production and not settings.landing_dir.is_dir():
        raise CommandError(
            f"no landing folder at {settings.landing_dir}: run `mlops generate --start YYYY-MM-DD` or copy files there"
        )
    report = ingest(settings)
    return 1 if report.failed_days else 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops import demo

    if args.scenario not in ("baseline", "covariate_shift", "concept_drift"):
        raise usage_error(
            "mlops demo", f"--scenario must be covariate_shift, concept_drift or baseline, not {args.scenario!r}"
        )
    if args.ordinary_days < 0:
        raise usage_error("mlops demo", f"--ordinary-days must be 0 or more, not {args.ordinary_days}")
    if has_table(settings, VALIDATED_TRANSACTIONS):
        raise CommandError(
            f"{settings.home} already holds data: run the demo on a fresh state "
            "(`make clean`, or MLOPS_HOME=<new folder>)"
        )
    return demo.run(args, settings)


def _until_stopped(*processes: subprocess.Popen) -> int:
    """Waits for `processes` until one exits, then stops the others; Ctrl-C or a SIGTERM to this
    command stops them all (cleanly, on SIGTERM). The exit code is the first one's to exit."""

    def stop(*_) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    while all(process.poll() is None for process in processes):
        time.sleep(0.2)
    code = next(process.returncode for process in processes if process.returncode is not None)
    stop()
    for process in processes:
        process.wait()
    return code


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.prometheus import PROMETHEUS, start_prometheus

    print(f"Dagster UI on http://127.0.0.1:{args.port} (instance {settings.dagster_home})")
    print(f"serving API on http://127.0.0.1:{args.serve_port} (ready once a champion exists: /readyz, /docs)")
    print(f"pipeline metrics on http://127.0.0.1:{args.exporter_port}/metrics")
    _create_mlflow_store(settings)
    processes = [
        start_dagster(settings, args.port),
        start_server(serve_command(args.serve_port)),
        start_server(exporter_command(args.exporter_port)),
    ]
    if PROMETHEUS.exists():
        processes.append(start_prometheus(settings, args.prometheus_port, args.serve_port, args.exporter_port))
        print(f"Prometheus on http://127.0.0.1:{args.prometheus_port} (its Alerts tab: every rule and its state)")
    else:
        print(f"no Prometheus at {PROMETHEUS}: `make up` installs it (Debian's prometheus), or run without it")
    print("Ctrl-C stops them all")
    return _until_stopped(*processes)


def _create_mlflow_store(settings: Settings) -> None:
    """Creates MLflow's store (and the experiment) before the servers start: on their first tick
    the sensors and the service would each create a new SQLite store at once, and all but one
    tick fail ("table _alembic_tmp_tags already exists")."""
    from mlops_assets.lib.modelling.registry import ensure_experiment
    from mlops_assets.resources.model_registry import EXPERIMENT

    ensure_experiment(settings.mlflow_tracking_uri, EXPERIMENT, settings.mlartifacts_location)


def cmd_env(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.export().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.retrain import retrain_champion

    if not has_table(settings, VALIDATED_TRANSACTIONS):
        raise CommandError("no validated transactions yet: run `mlops ingest` (or `mlops demo`) first")
    if not has_table(settings, CUSTOMER_FEATURES):
        raise CommandError("no features built yet: run `mlops backfill` (or `mlops up`, whose sensors build them)")
    print("retraining through Dagster's retrain_job")
    return 0 if retrain_champion(settings, args.reason, _training_config(args)) else 1


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.definitions import build_definitions
    from mlops_assets.defs.features.sensors import stale_feature_days
    from mlops_assets.defs.validation import verdicts
    from mlops_assets.lib.modelling.registry import CHAMPION
    from mlops_assets.ops.features import build_features
    from mlops_assets.ops.ingest import ingest
    from mlops_assets.ops.retrain import retrain_champion
    from mlops_assets.resources import build_resources

    if settings.production or settings.landing_dir.is_dir():
        started = time.perf_counter()
        report = ingest(settings)
        print(f"ingestion: {time.perf_counter() - started:.1f} s")
        if report.failed_days:
            raise CommandError(f"ingestion failed for {len(report.failed_days)} day(s): fix them, then run again")
    if not has_table(settings, VALIDATED_TRANSACTIONS):
        raise CommandError("no validated transactions: `mlops import` or copy files into the landing folder first")
    lake = open_lake(settings)
    stale = stale_feature_days(lake)
    refused = verdicts.failed_days(lake, stale)
    for day, why in refused.items():
        print(f"features of {day} wait: validated_transactions {why}", file=sys.stderr)
    days = sorted(day for day in stale if day not in refused)
    failed = {}
    if days:
        started = time.perf_counter()
        with open_instance(settings) as instance:
            failed = build_features(build_definitions(build_resources(settings)), instance, days)
        print(f"features of {len(days)} day(s) and the training set: {time.perf_counter() - started:.1f} s")
    for day, reason in failed.items():
        print(f"features for {day} failed: {reason}", file=sys.stderr)
    if failed:
        return 1
    try:
        champion = open_registry(settings).alias(CHAMPION)
    except CommandError:  # no local registry yet: nothing was trained
        champion = None
    if champion is not None:
        print(f"a champion exists (version {champion.version}): `mlops retrain` trains new candidates")
        return 0
    print("training the first champion through Dagster's retrain_job")
    started = time.perf_counter()
    promoted = retrain_champion(settings, None, _training_config(args))
    print(f"retraining: {time.perf_counter() - started:.1f} s")
    return 0 if promoted else 1


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.lib.modelling.registry import NoChampionError

    try:
        previous, current = open_registry(settings).rollback(args.to)
    except (NoChampionError, ValueError) as error:
        raise CommandError(str(error)) from error
    print(f"champion: version {current} (was {previous}); version {previous} stays registered")
    return 0


def cmd_rollout(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.rollout import rollout

    print(rollout(settings, args.action, args.version, args.stage, args.share))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    print("\n".join(status_lines(settings)))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.lib.modelling.registry import CHAMPION

    champion = open_registry(settings).alias(CHAMPION)
    if champion is None:
        raise CommandError(f"no champion model in {settings.mlflow_tracking_uri}: run `mlops demo` or `mlops retrain`")
    print(f"serving the champion (now version {champion.version}) on http://127.0.0.1:{args.port}; Ctrl-C stops it")
    return _until_stopped(start_server(serve_command(args.port)))


def cmd_exporter(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.exporter import serve

    serve(settings, args.port, args.refresh, args.host)
    return 0


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    from mlops_assets.ops.score import score_day

    for line in score_day(settings, args.day.isoformat(), args.version, args.capacity):
        print(line)
    return 0


COMMANDS = {
    "generate": cmd_generate,
    "import": cmd_import,
    "ingest": cmd_ingest,
    "backfill": cmd_backfill,
    "demo": cmd_demo,
    "up": cmd_up,
    "serve": cmd_serve,
    "exporter": cmd_exporter,
    "status": cmd_status,
    "retrain": cmd_retrain,
    "rollback": cmd_rollback,
    "rollout": cmd_rollout,
    "score": cmd_score,
    "env": cmd_env,
}


if __name__ == "__main__":
    raise SystemExit(main())
