"""The `ecl` command. Thin: parses arguments, builds the config, calls the engine.

Every expected failure (bad config, bad data, bad checkpoint, unusable run folder) is printed as
one `error: ...` line with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser"]

EXAMPLES = """examples:
  ecl train                                   # ECL on the embedded digits-lt data (CPU, ~1 min)
  ecl train --config mnist_lt train.epochs=10 out=runs/mnist
  ecl train --config cifar100_lt_r32 data.root=~/data loss.method=bcl
  ecl train --resume runs/mnist
  ecl data summary data.name=mnist-lt --json
  ecl data preview data.name=folder data.root=~/photos --count 8 --out preview
  ecl compare --methods ce,la,bcl,ecl --seeds 0,1,2 train.epochs=10
  ecl compare --methods la,ecl --tune auto data.val_per_class=20 train.epochs=10
  ecl compare --methods la,ecl --tune train.lr=0.02,0.05 data.val_per_class=20 train.epochs=10
  torchrun --nproc_per_node=4 -m ecl train --config imagenet_lt_x50 data.root=/data/imagenet
"""


def _overrides_help() -> str:
    return "section.key=value overrides (e.g. train.epochs=5 loss.method=bcl out=runs/x)"


def _version() -> str:
    from ecl import __version__

    return __version__


def _flag_hint(token: str, argv: Sequence[str]) -> str | None:
    """`--epochs` (followed by 3) or `--epochs=3` → "did you mean train.epochs=3?" (None when no key fits)."""
    from ecl.config import suggest_key

    name, sep, value = token.lstrip("-").partition("=")
    key = suggest_key(name)
    if key is None:
        return None
    if not sep:
        args = list(argv)
        at = args.index(token) if token in args else -1
        value = args[at + 1] if 0 <= at < len(args) - 1 and not args[at + 1].startswith("-") else "VALUE"
    return f"{token}: did you mean {key}={value}? (settings are given as section.key=value)"


class _Parser(argparse.ArgumentParser):
    """argparse, with a did-you-mean for `--epochs 3`-style flags that are really config keys."""

    argv: Sequence[str] = ()

    def error(self, message: str) -> None:  # type: ignore[override]
        marker = "unrecognized arguments: "
        if marker in message:
            tokens = [t for t in message.split(marker, 1)[1].split() if t.startswith("-")]
            hints = [h for h in (_flag_hint(t, _Parser.argv) for t in tokens) if h]
            if hints:
                self.print_usage(sys.stderr)
                self.exit(2, "".join(f"{self.prog}: error: {h}\n" for h in hints))
        super().error(message)


def _add_data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect or check a dataset")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    summary = data_sub.add_parser("summary", help="sizes, per-class counts, imbalance, shot groups")
    summary.add_argument("--config", help="a YAML file or preset name")
    summary.add_argument("--json", action="store_true", help="print JSON")
    summary.add_argument("overrides", nargs="*", help=_overrides_help())
    check = data_sub.add_parser("check", help="open every image and validate every row")
    check.add_argument("--config", help="a YAML file or preset name")
    check.add_argument("overrides", nargs="*", help=_overrides_help())
    show = data_sub.add_parser("preview", help="write N training samples' views as PNGs (what the network sees)")
    show.add_argument("--config", help="a YAML file or preset name")
    show.add_argument("--count", type=int, default=16, help="samples to write (default 16)")
    show.add_argument("--out", required=True, metavar="DIR",
                      help="folder for <k>-v0.png (classifier view), <k>-v1.png, <k>-v2.png and preview.json")
    show.add_argument("--overwrite", action="store_true", help="write into an existing non-empty DIR")
    show.add_argument("overrides", nargs="*", help=_overrides_help())


def _add_predict(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser(
        "predict", help="class names and probabilities for images",
        description="Class names and probabilities for images. An image that cannot be read gets its own "
                    "entry with the reason (field/column `error`); the others are still predicted.",
        epilog="exit status: 0 when every image was predicted, 1 when some could not be read (their "
               "entries say why), 2 on a usage, checkpoint or input-path error (nothing predicted)")
    predict.add_argument("checkpoint", help="a run folder, checkpoint or .safetensors export")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3)
    predict.add_argument("--json", action="store_true",
                         help="print JSON: per image path, class, probability, probabilities (every class), "
                              "error, top_k")
    predict.add_argument("--csv", metavar="FILE",
                         help="also write a CSV: path, class, probability, one prob_<class> column per class, "
                              "error (never over an existing file)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ecl",
        description="Equilibrium Contrastive Learning for long-tailed image classification.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a model (default: ECL on the embedded digits-lt data)")
    train.add_argument("--config", help="a YAML file or preset name in configs/ (default: digits_lt)")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace an existing ecl run folder out=DIR")
    train.add_argument("--dry-run", action="store_true",
                       help="print the resolved configuration and protocol; train nothing, write nothing")
    train.add_argument("overrides", nargs="*", help=_overrides_help())

    _add_data(sub)

    evaluate = sub.add_parser("evaluate", help="recompute final metrics of a run or checkpoint")
    evaluate.add_argument("target", help="a run folder or a checkpoint file")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--output", help="also write the metrics to this JSON file (never over an existing one)")
    evaluate.add_argument("overrides", nargs="*", help="data.* overrides to evaluate on another dataset")

    _add_predict(sub)

    export = sub.add_parser("export", help="write an inference model (encoder + cosine classifier)")
    export.add_argument("checkpoint", help="a run folder or checkpoint")
    export.add_argument("--format", choices=("safetensors", "onnx", "torchscript"), default="safetensors")
    export.add_argument("--output", help="output file (default: beside the checkpoint)")

    report = sub.add_parser("report", help="write the HTML report of a finished run folder")
    report.add_argument("run_dir")

    compare = sub.add_parser("compare", help="train several methods over seeds and compare them")
    compare.add_argument("--methods", default="ce,la,supcon,bcl,procondual,ecl")
    compare.add_argument("--seeds", default="0,1,2")
    compare.add_argument("--config", help="a YAML file or preset name")
    compare.add_argument("--jobs", type=int, default=1,
                         help="runs trained at once, each in its own process (use with train.threads=1)")
    compare.add_argument("--tune", action="append", default=[], metavar="auto|[METHOD:]KEY=V1,V2",
                         help="auto: the learning rate train.lr × 1/3, × 1, × 3 for every method (a factor 3 "
                              "each way spans the ~10x range where the methods' best rates lie; they differ "
                              "because their classifier losses run at different scales lr × α) — without "
                              "--tune the methods share one learning rate and are not tuned. "
                              "Or a tuning axis (repeatable): every combination is trained on --tune-seeds and "
                              "scored on final-epoch validation balanced accuracy; the best per method is reported on "
                              "--seeds. METHOD:KEY=... is an axis of that method only; every method needs "
                              "the same number of combinations. Needs a validation split (README: validation)")
    compare.add_argument("--tune-seeds", default="100", help="seeds of the tuning runs (default 100)")
    compare.add_argument("--stage", choices=("tune", "report", "all"), default="all",
                         help="with --tune: only the tuning runs, only the report runs (tuning finished), or both")
    compare.add_argument("overrides", nargs="*", help=_overrides_help())

    sub.add_parser("presets", help="list the configuration presets (for --config NAME)")

    config = sub.add_parser("config", help="show the resolved configuration of a preset and overrides")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = config_sub.add_parser("show", help="print the resolved configuration (YAML) and protocol line")
    show.add_argument("--config", help="a YAML file or preset name (default: digits_lt)")
    show.add_argument("overrides", nargs="*", help=_overrides_help())
    return parser


def _load_config(config_file: str | None, overrides: Sequence[str]):
    from ecl.config import load_config

    return load_config(config_file, list(overrides))


def _cmd_train(args: argparse.Namespace) -> int:
    from ecl.engine.commands.train import train

    if args.resume:
        if args.config or args.overrides:
            raise _UsageError("--resume continues a run with its own saved configuration; give no --config or overrides")
        if args.dry_run:
            from ecl.engine.training.run_folder import RunFolder

            _print_resolved(RunFolder(args.resume).read_config())
            return 0
        train(resume=args.resume)
        return 0
    config = _load_config(args.config, args.overrides)
    if args.dry_run:
        _print_resolved(config)
        return 0
    train(config, overwrite=args.overwrite)
    return 0


def _print_resolved(config) -> None:
    """The resolved configuration as YAML, then the protocol line (nothing is built or written)."""
    from ecl.config import dump_yaml
    from ecl.engine.training.protocol import resolve_config, resolve_protocol

    print(dump_yaml(resolve_config(config)), end="")
    print(f"# {resolve_protocol(config).line()}")


def _cmd_config(args: argparse.Namespace) -> int:
    if args.config_command is None:
        raise _UsageError("ecl config needs an action: show")
    _print_resolved(_load_config(args.config, args.overrides))
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from ecl.data import build_datasets, check_dataset, data_summary, format_data_summary, format_problems
    from ecl.data.plan import resolve_data_plan

    if args.data_command is None:
        raise _UsageError("ecl data needs an action: summary, check or preview")
    config = _load_config(args.config, args.overrides)
    if args.data_command == "preview":
        from ecl.engine.commands.preview import format_record, preview

        print(format_record(preview(config, args.count, args.out, overwrite=args.overwrite)))
        return 0
    if args.data_command == "summary":
        bundle = build_datasets(config.data)
        summary = data_summary(bundle, many_threshold=config.eval.many_threshold,
                               few_threshold=config.eval.few_threshold, plan=resolve_data_plan(config, bundle))
        print(json.dumps(summary, indent=2) if args.json else format_data_summary(summary))
        return 0
    problems = check_dataset(config.data)
    if not problems:
        print(f"{config.data.name}: every image opened and every row is valid")
        return 0
    print(f"error: {format_problems(problems, config.data.name)}", file=sys.stderr)  # as `ecl train` says it
    return 2


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ecl.engine.commands.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(args.target, list(args.overrides), output=args.output)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from ecl.engine.training.results import format_final_table

        print(format_final_table(result, Path(args.target)))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ecl.engine.commands.predict import failed_count, format_predictions, predict_images

    if args.top_k < 1:
        raise _UsageError(f"--top-k must be ≥ 1, got {args.top_k}")
    predictions = predict_images(args.checkpoint, args.inputs, top_k=args.top_k, csv=args.csv)
    print(json.dumps(predictions, indent=2) if args.json else format_predictions(predictions))
    if args.csv:
        print(f"wrote {args.csv}", file=sys.stderr)
    failed = failed_count(predictions)
    if failed:
        print(f"error: {failed} of {len(predictions)} images could not be read (see their error entries)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ecl.engine.commands.export import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.format, output=args.output)
    print(f"wrote {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from ecl.engine.training.run_folder import RunFolder

    run = RunFolder(args.run_dir)
    if not run.is_finished():
        raise _UsageError(f"{run.path} has no {run.final_file.name}: not a finished ecl run folder")
    if not run.has_plots():
        print(f"warning: {run.plots} holds no plots (eval.plots=false, or the run stopped before they were "
              f"drawn): the page has no pictures", file=sys.stderr)
    print(f"wrote {run.write_report()}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from ecl.config import list_presets

    presets = list_presets()
    width = max((len(name) for name, _ in presets), default=0)
    for name, description in presets:
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ecl.engine.commands.compare import run_comparison

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    seeds, tune_seeds = _int_list("--seeds", args.seeds), _int_list("--tune-seeds", args.tune_seeds)
    if args.jobs < 1:
        raise _UsageError(f"--jobs must be ≥ 1, got {args.jobs}")
    run_comparison(methods, seeds, config_file=args.config, overrides=list(args.overrides), jobs=args.jobs,
                   tune=list(args.tune), tune_seeds=tune_seeds, stage=args.stage)
    return 0


def _int_list(option: str, text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise _UsageError(f"{option} must be integers separated by commas, got {text!r}") from None


class _UsageError(ValueError):
    pass


COMMANDS = {
    "train": _cmd_train,
    "data": _cmd_data,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "export": _cmd_export,
    "report": _cmd_report,
    "compare": _cmd_compare,
    "presets": _cmd_presets,
    "config": _cmd_config,
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    from ecl.config import ConfigError
    from ecl.data import DataError
    from ecl.data.plan import PipelineError
    from ecl.engine.training.checkpoint import CheckpointError
    from ecl.engine.training.epoch import NonFiniteLossError
    from ecl.engine.training.loop import DataLoaderWorkerError
    from ecl.engine.commands.preview import PreviewError
    from ecl.engine.training.run_folder import RunFolderError
    from ecl.models.weights import WeightsError

    return (ConfigError, DataError, PipelineError, CheckpointError, RunFolderError, NonFiniteLossError,
            DataLoaderWorkerError, WeightsError, PreviewError, _UsageError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from ecl.engine.training.loop import TrainingInterrupted

    expected = _expected_errors()
    try:
        return COMMANDS[args.command](args)
    except TrainingInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except expected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
