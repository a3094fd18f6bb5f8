"""The final evaluation of a run: final.json's content, the plots, the report and the summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ecl.engine.training.epoch import EvalOutput, evaluate
from ecl.engine.training.run_folder import RunFolder
from ecl.engine.training.context import RunContext

__all__ = ["final_metrics", "collect_test", "geometry_now", "finish_run", "format_final_table"]


def final_metrics(ctx: RunContext, output: EvalOutput, split: str = "test") -> dict[str, Any]:
    """final.json's content from one collected evaluation pass (deterministic: no timings)."""
    from ecl.evaluation import expected_calibration_error, geometry_metrics, metrics_from_confusion

    config, bundle = ctx.config, ctx.bundle
    metrics = metrics_from_confusion(output.confusion, bundle.train_counts,
                                     many_threshold=config.eval.many_threshold,
                                     few_threshold=config.eval.few_threshold)
    weight = ctx.network.classifier_weight.detach().float().cpu()
    geometry = geometry_metrics(output.features, output.labels, weight)
    ece = expected_calibration_error(output.probs, output.labels, n_bins=15)
    result = {key: metrics[key] for key in ("top1", "balanced_accuracy", "macro_f1", "many", "medium",
                                            "few", "per_class_accuracy")}
    result.update(
        geometry={k: float(v) for k, v in geometry.items()},
        ece=float(ece),
        method=config.loss.method,
        dataset=config.data.name,
        backbone=config.model.backbone,
        epochs=config.train.epochs,
        seed=config.seed,
        split=split,
        many_threshold=config.eval.many_threshold,
        few_threshold=config.eval.few_threshold,
        classes=list(bundle.classes),
        train_counts=[int(c) for c in bundle.train_counts],
        eval_counts=[int(c) for c in output.confusion.sum(axis=1)],
        notes=list(getattr(bundle, "notes", [])),
    )
    return result


def collect_test(ctx: RunContext) -> EvalOutput:
    """One pass over the whole test set (rank 0 alone) with features, labels and probabilities."""
    return evaluate(ctx, ctx.loader.eval_batches(ctx.bundle.test, whole=True), collect=True, raw=True)


def geometry_now(ctx: RunContext) -> dict[str, float]:
    """FC/MS/SD on backbone features of the whole evaluation set (rank 0 alone)."""
    from ecl.evaluation import geometry_metrics

    output = collect_test(ctx)
    weight = ctx.network.classifier_weight.detach().float().cpu()
    return {k: float(v) for k, v in geometry_metrics(output.features, output.labels, weight).items()}


def _plots(ctx: RunContext, run: RunFolder, final: dict[str, Any], output: EvalOutput) -> None:
    from ecl.evaluation import make_plots

    network, bundle, config = ctx.network, ctx.bundle, ctx.config
    prototypes = network.prototypes().detach().float().cpu() if getattr(network, "prototype_map", None) else None
    make_plots(run.plots, final=final, train_counts=list(bundle.train_counts), class_names=list(bundle.classes),
               confusion=output.confusion, features=output.features, labels=output.labels,
               classifier_weight=network.classifier_weight.detach().float().cpu(), prototypes=prototypes,
               records=run.read_metrics(), many_threshold=config.eval.many_threshold,
               few_threshold=config.eval.few_threshold, loss_weighting=config.loss.weighting)


def finish_run(ctx: RunContext, run: RunFolder, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Final evaluation on the test set (rank 0, whole set), plots, the report, then final.json.

    final.json is written last (atomically): a run stopped during the plots or the report has none,
    so `ecl train --resume` redoes the final evaluation, plots and report.
    """
    output = collect_test(ctx)
    final = final_metrics(ctx, output)
    if ctx.config.eval.plots:
        try:
            _plots(ctx, run, final, output)
        except Exception as exc:  # a picture must never cost the user a finished run
            log(f"warning: plots could not be drawn: {type(exc).__name__}: {exc}")
    if ctx.config.eval.report:
        try:
            run.write_report(final)
        except Exception as exc:
            log(f"warning: {run.report_file.name} could not be written: {type(exc).__name__}: {exc}")
    run.write_final(final)
    log(format_final_table(final, run.path))
    return final


def format_final_table(final: dict[str, Any], location: Path) -> str:
    """A short table of the final metrics and where they come from (a run folder or a file)."""

    def pct(value: Any) -> str:
        return "—" if value is None else f"{100 * value:6.2f}%"

    rows = [("top-1", pct(final["top1"])), ("balanced accuracy", pct(final["balanced_accuracy"])),
            ("macro-F1", pct(final["macro_f1"])), ("many-shot", pct(final["many"])),
            ("medium-shot", pct(final["medium"])), ("few-shot", pct(final["few"]))]
    geometry = final.get("geometry", {})
    rows += [(f"geometry {k}", f"{v:.4f}") for k, v in geometry.items() if v is not None]
    width = max(len(name) for name, _ in rows)
    lines = [f"{final['method']} on {final['dataset']} ({final['epochs']} epochs, seed {final['seed']})"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append(f"{'run folder' if location.is_dir() else 'checkpoint'}: {location}")
    return "\n".join(lines)
