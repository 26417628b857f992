"""Train an eigenpatch classifier: a recorded training run, or the shipped default model.

    python manage.py train_classifier [--from survey|auto|both] [--tune N] [--activate]
    python manage.py train_classifier --from auto --ship     # rebuilds the shipped model
    python manage.py train_classifier --kind group --from auto --ship
                                     # the default method's group classifier
"""
from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from denoiser.reucid.selection.group_cnn import (
    GROUP_SHIPPED_MODEL_CARD_PATH,
    GROUP_SHIPPED_MODEL_PATH,
    GroupClassifier,
    save_group_classifier,
)
from training.group_evaluation import compare_rows, evaluate_selector, summarise_rows
from training.group_examples import (
    DEFAULT_DEFECT_WEIGHT,
    build_group_examples,
    held_out_group_cases,
    training_group_cases,
)
from training.group_trainer import GroupTrainingConfig, train_group_network
from training.labels import DEFAULT_LABEL_RULE, LABEL_RULES, PAPER_IEF_CONSTANT
from training.services import (
    calibration_cases,
    code_version,
    held_out_cases,
    model_metadata,
    train_and_evaluate,
)
from training.trainer import TrainingConfig


class Command(BaseCommand):
    help = ("Train the eigenpatch CNN from simulated (auto) and/or survey labels. Without "
            "--ship this records a TrainingRun and a ClassifierModel (same service as the "
            "Celery task); with --ship it rewrites the packaged default model and its card.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="source", choices=["auto", "survey", "both"],
                            default="both")
        parser.add_argument("--kind", choices=["paper", "group"], default="paper",
                            help="paper: the paper method's CNN; group: the default method's "
                                 "group classifier (reucid_group_default.pt with --ship)")
        parser.add_argument("--crystals", type=int, default=24,
                            help="--kind group: simulated crystals of the training materials "
                                 "(each at 4 doses)")
        parser.add_argument("--group-scenes", type=int, default=16,
                            help="--kind group: fidelity scenes of non-held-out materials "
                                 "(each at 4 doses)")
        parser.add_argument("--respondents", choices=["all", "experts", "non-experts"],
                            default="all", help="--kind group: whose survey votes label")
        parser.add_argument("--warm-start", action="store_true",
                            help="--kind group: continue from the active group model")
        parser.add_argument("--tune", type=int, default=0, metavar="N",
                            help="Optuna trials over channels, kernel sizes, widths (0 = off)")
        parser.add_argument("--ship", action="store_true",
                            help="write denoiser/reucid/selection/models/reucid_default.pt and .json")
        parser.add_argument("--activate", action="store_true",
                            help="activate the result if it beats the active model")
        parser.add_argument("--scenes", type=int, default=48,
                            help="simulated scenes (each imaged at 4 doses)")
        parser.add_argument("--sizes", default="128,192",
                            help="side lengths of the simulated training images, cycled")
        parser.add_argument("--epochs", type=int, default=20)
        parser.add_argument("--components", type=int, default=50, metavar="N",
                            help="leading eigenpatches per image the model learns to rank "
                                 "(recorded in the model; the denoiser then computes N)")
        parser.add_argument("--output-dir", type=Path, default=None,
                            help="with --ship: write reucid_default.pt/.json here instead of "
                                 "over the shipped model (to compare before replacing it)")
        parser.add_argument("--pixel-doses", default="", metavar="D1,D2",
                            help="also image every scene at these doses in electrons per "
                                 "pixel (--ship only; default none)")
        parser.add_argument("--aligned-share", type=float, default=0.0, metavar="P",
                            help="chance that a scene is a perfect bulk crystal with its cell "
                                 "along the scan axes (--ship only; default 0)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rule", choices=LABEL_RULES, default=None,
                            help="automatic label rule (default psnr-best)")
        parser.add_argument("--c", type=float, default=None,
                            help="IEF constant for --rule edited-ief (paper: 0.64)")
        parser.add_argument("--evaluation-scenes", type=int, default=9)
        parser.add_argument("--sim-dir", type=Path, default=None,
                            help="abTEM images with ground truth to evaluate on "
                                 "(default ../shared/data/sim when present)")

    def handle(self, *args, **options) -> None:
        if options["kind"] == "group":
            if options["ship"]:
                if options["source"] != "auto":
                    raise CommandError("the shipped group classifier is trained from "
                                       "simulation only: use --from auto --ship")
                self._ship_group(options)
            else:
                self._recorded_group_run(options)
            return
        if options["components"] < 1:
            raise CommandError("--components must be a positive integer")
        if options["ship"]:
            if options["source"] != "auto":
                raise CommandError("the shipped model is trained from simulation only: "
                                   "use --from auto --ship")
            self._ship(options)
            return
        self._recorded_run(options)

    # ------------------------------------------------------------------ recorded run
    def _recorded_run(self, options) -> None:
        from training.services import TrainingError, create_training_run, execute_training_run

        run_options = {"n_scenes": options["scenes"], "epochs": options["epochs"],
                       "sizes": [int(v) for v in str(options["sizes"]).split(",") if v.strip()],
                       "seed": options["seed"], "evaluation_scenes": options["evaluation_scenes"],
                       "n_components": options["components"]}
        if options["rule"]:
            run_options["rule"] = options["rule"]
        if options["c"] is not None:
            run_options["c"] = options["c"]
        try:
            run = create_training_run(source=options["source"], tune_trials=options["tune"],
                                      auto_activate=options["activate"], options=run_options)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"training run #{run.pk} ({run.source}) started")
        run = execute_training_run(run.pk)
        for record in run.history:
            self.stdout.write(f"  epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}"
                              f"  val loss {record['val_loss']:.4f}"
                              f"  val balanced acc {record['val_balanced_accuracy']:.3f}")
        if run.status != run.Status.SUCCEEDED:
            raise CommandError(f"training run #{run.pk} failed: {run.error}")
        headline = run.result.headline_metrics
        self.stdout.write(self.style.SUCCESS(
            f"model #{run.result_id} registered{' and activated' if run.activated else ''}: "
            + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in headline.items())))

    # ------------------------------------------------------------------ shipped model
    def _ship(self, options) -> None:
        from denoiser.reucid.selection.cnn import SHIPPED_MODEL_CARD_PATH, SHIPPED_MODEL_PATH, save_classifier
        from training.evaluation import format_table, shared_sim_cases
        from training.examples import PAPER_DOSES, build_auto_stacks

        rule = options["rule"] or DEFAULT_LABEL_RULE
        c = PAPER_IEF_CONSTANT if options["c"] is None else options["c"]
        try:
            sizes = [int(v) for v in str(options["sizes"]).split(",") if v.strip()]
        except ValueError as exc:
            raise CommandError("--sizes takes comma-separated integers, e.g. 128,192") from exc
        try:
            pixel_doses = [float(v) for v in str(options["pixel_doses"]).split(",") if v.strip()]
        except ValueError as exc:
            raise CommandError("--pixel-doses takes comma-separated numbers, e.g. 1000,10000") \
                from exc
        if any(d <= 0 for d in pixel_doses) or not 0 <= options["aligned_share"] <= 1:
            raise CommandError("--pixel-doses must be positive and --aligned-share in [0, 1]")
        data_options = {"pixel_doses": pixel_doses, "aligned_share": options["aligned_share"]}
        self.stdout.write(f"simulating and labelling {options['scenes']} scenes x "
                          f"{len(PAPER_DOSES) + len(pixel_doses)} doses ...")
        stacks = build_auto_stacks(n_scenes=options["scenes"], rule=rule, c=c,
                                   sizes=sizes, n_components=options["components"],
                                   seed=options["seed"], **data_options)
        self.stdout.write(f"  {len(stacks)} labelled images")
        sim_dir = options["sim_dir"] or Path(settings.BASE_DIR).parent / "shared" / "data" / "sim"
        extra = {}
        if sim_dir.is_dir():
            extra["abtem_sim"] = shared_sim_cases(sim_dir)
            self.stdout.write(f"  evaluating also on {len(extra['abtem_sim'])} abTEM images "
                              f"from {sim_dir}")

        def on_epoch(record, planned) -> None:
            self.stdout.write(f"  epoch {record.epoch:3d}/{planned}  train loss "
                              f"{record.train_loss:.4f}  val loss {record.val_loss:.4f}  "
                              f"val balanced acc {record.val_balanced_accuracy:.3f}")

        trained = train_and_evaluate(
            stacks, config=TrainingConfig(epochs=options["epochs"], seed=options["seed"]),
            tune_trials=options["tune"],
            evaluation_cases=held_out_cases(n_scenes=options["evaluation_scenes"]),
            calibration_cases=calibration_cases(n_scenes=6, seed=options["seed"],
                                                **data_options),
            n_components=options["components"],
            extra_evaluations=extra, progress=on_epoch,
            stage=lambda text: self.stdout.write(text),
        )
        paper_k = [s.provenance["k_paper_rule"] for s in stacks if "k_paper_rule" in s.provenance]
        trained.training_summary["label_rule"] = {
            "rule": rule, "c": c,
            "mean_k_star": float(sum(s.k_star for s in stacks) / max(len(stacks), 1)),
            # the paper's edited IEF (c = 0.64) measured on the same images
            "paper_rule_mean_k": float(sum(paper_k) / max(len(paper_k), 1)),
            "paper_rule_share_at_k_max": float(
                sum(k == len(s.labels) for k, s in zip(paper_k, stacks)) / max(len(paper_k), 1)),
        }
        trained.training_summary["scene_options"] = {
            "doses_e_per_A2": list(PAPER_DOSES),
            "pixel_doses_e_per_px": pixel_doses, "aligned_share": options["aligned_share"],
            "sizes": sizes}
        trained.training_summary["command"] = (
            f"python manage.py train_classifier --from auto --ship --scenes {options['scenes']} "
            f"--epochs {options['epochs']} --seed {options['seed']} --sizes {options['sizes']} "
            f"--components {options['components']}"
            + (f" --pixel-doses {options['pixel_doses']}" if pixel_doses else "")
            + (f" --aligned-share {options['aligned_share']:g}" if options["aligned_share"] else "")
            + (f" --tune {options['tune']}" if options["tune"] else "")
            + (f" --rule {rule}" if options["rule"] else "")
            + (f" --c {c}" if options["c"] is not None else ""))
        metadata = model_metadata(trained, name="reucid_default", seed=options["seed"])
        # The per-image rows are for the card, not for every load of the model file.
        slim = json.loads(json.dumps(metadata))
        for key in ("held_out", "abtem_sim"):
            if key in slim["metrics"]:
                slim["metrics"][key].pop("rows", None)
        model_path, card_path = Path(SHIPPED_MODEL_PATH), Path(SHIPPED_MODEL_CARD_PATH)
        if options["output_dir"] is not None:
            options["output_dir"].mkdir(parents=True, exist_ok=True)
            model_path = options["output_dir"] / model_path.name
            card_path = options["output_dir"] / card_path.name
        save_classifier(trained.outcome.model, model_path, metadata=slim)
        card_path.write_text(json.dumps(metadata, indent=1) + "\n")
        for key, unit in (("held_out", "e/Å²"), ("abtem_sim", "e/px")):
            if key in trained.metrics:
                self.stdout.write(f"\n{key}:\n" + format_table(
                    trained.metrics[key]["by_dose"], dose_unit=unit))
        verdict = trained.metrics["headline"].get("meets_acceptance")
        self.stdout.write(self.style.SUCCESS(
            f"\nwrote {model_path} and {card_path.name}; acceptance on "
            f"held-out materials (within 0.5 dB of oracle, above MP-PCA at every dose): "
            f"{'met' if verdict else 'NOT met'}"))

    # ------------------------------------------------------------------ group classifier
    def _group_epochs(self, options) -> int:
        # the paper CNN's default of 20 epochs is far more than the tiny group net needs
        return options["epochs"] if options["epochs"] != 20 else 8

    def _recorded_group_run(self, options) -> None:
        from training.services import TrainingError, create_training_run, execute_training_run

        run_options = {"kind": "group", "n_crystals": options["crystals"],
                       "n_scenes": options["group_scenes"], "epochs": self._group_epochs(options),
                       "seed": options["seed"], "respondents": options["respondents"],
                       "warm_start": options["warm_start"]}
        try:
            run = create_training_run(source=options["source"], auto_activate=options["activate"],
                                      options=run_options)
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"training run #{run.pk} ({run.source}, group) started")
        run = execute_training_run(run.pk)
        if run.status != run.Status.SUCCEEDED:
            raise CommandError(f"training run #{run.pk} failed: {run.error}")
        gate = run.result.metrics.get("gate", {})
        self.stdout.write(self.style.SUCCESS(
            f"group model #{run.result_id} registered"
            f"{' and activated' if run.activated else ''}; against {gate.get('reference')}: "
            f"PSNR {gate.get('psnr_gain_db', float('nan')):+.2f} dB, at least as good on every "
            f"measure: {gate.get('ok')}"
            + ("" if gate.get("ok") else f" (not: {', '.join(gate.get('failures', []))})")))

    def _ship_group(self, options) -> None:

        seed, epochs = options["seed"], self._group_epochs(options)
        cases = training_group_cases(n_crystals=options["crystals"],
                                     n_scenes=options["group_scenes"], seed=seed)
        self.stdout.write(f"labelling {len(cases)} simulated images (the default method's "
                          "groups, per-group oracle k) ...")

        def labelled(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                self.stdout.write(f"  {done}/{total}")

        examples = build_group_examples(cases, seed=seed, progress=labelled)
        self.stdout.write(f"  {len(examples)} components from {len(examples.provenance)} "
                          f"images, {examples.labels.mean():.1%} useful")
        config = GroupTrainingConfig(epochs=epochs, seed=seed, learning_rate=1e-2,
                                     batch_size=256)

        def on_epoch(record, planned) -> None:
            self.stdout.write(f"  epoch {record['epoch']:3d}/{planned}  train loss "
                              f"{record['train_loss']:.4f}  val loss {record['val_loss']:.4f}  "
                              f"val balanced acc {record['val_balanced_accuracy']:.3f}")

        outcome = train_group_network(examples, config=config, progress=on_epoch)
        # the decision threshold (and margin) is chosen on fresh images of the training
        # materials (never the held-out ones), of both kinds the gate judges: crystals and
        # fidelity scenes; preferred is the best mean PSNR among the choices not worse than
        # the noise-edge rule anywhere there (the gate's own test), else the best mean PSNR
        from denoiser.reucid.simulation import TRAINING_MATERIALS
        from training.group_examples import crystal_cases, scene_cases, training_scene_pairs

        calibration = (crystal_cases(materials=TRAINING_MATERIALS, n_scenes=3, seed=seed + 7)
                       + scene_cases(training_scene_pairs(4, seed=seed + 7),
                                     seed=3000 + seed))
        rule_rows = evaluate_selector(None, calibration)
        by_choice: dict[tuple[float, float], float] = {}
        safe: set[tuple[float, float]] = set()
        for threshold, margin in ((0.5, 0.0), (0.4, 0.0), (0.6, 0.0), (0.5, 0.15), (0.5, 0.3)):
            rows = evaluate_selector(GroupClassifier(outcome.model, threshold=threshold,
                                                     margin=margin), calibration)
            verdict_here = compare_rows(rows, rule_rows)
            by_choice[(threshold, margin)] = verdict_here["psnr_gain_db"]
            if verdict_here["ok"]:
                safe.add((threshold, margin))
            self.stdout.write(f"  threshold {threshold}, margin {margin}: calibration PSNR "
                              f"{verdict_here['psnr_gain_db']:+.3f} dB over the rule, not "
                              f"worse anywhere: {verdict_here['ok']}")
        pool = safe or set(by_choice)
        threshold, margin = max(pool, key=lambda choice: by_choice[choice])
        by_threshold = {f"{t} margin {m}": v for (t, m), v in by_choice.items()}
        self.stdout.write("evaluating on the held-out set (held-out materials only) ...")
        held_out = held_out_group_cases()
        candidate_rows = evaluate_selector(GroupClassifier(outcome.model, threshold=threshold,
                                                           margin=margin), held_out)
        reference_rows = evaluate_selector(None, held_out)
        verdict = compare_rows(candidate_rows, reference_rows, min_psnr_gain=0.3)
        not_worse = compare_rows(candidate_rows, reference_rows)
        command = (f"python manage.py train_classifier --kind group --from auto --ship "
                   f"--crystals {options['crystals']} --group-scenes {options['group_scenes']} "
                   f"--epochs {epochs} --seed {seed}")
        metadata = {
            "name": "reucid_group_default", "kind": "group", "threshold": threshold,
            "margin": margin,
            "threshold_calibration": {"psnr_gain_over_rule_db": by_threshold,
                                      "not_worse_anywhere": sorted(f"{t} margin {m}"
                                                                   for t, m in safe),
                                      "images": "3 crystals of each training material and 4 "
                                                "fidelity scenes of non-held-out materials, "
                                                f"4 doses each, seeds {seed + 7}/"
                                                f"{3000 + seed}"},
            "training_data": {
                "materials": sorted({p["material"] for p in examples.provenance}),
                "n_images": len(examples.provenance), "n_components": len(examples),
                "positive_fraction": float(examples.labels.mean()),
                "labels": "per group of the last pass, the k (leading components kept) whose "
                          "output is closest to the clean image, defect pixels weighted "
                          f"{1 + DEFAULT_DEFECT_WEIGHT:g}x (training.group_examples)",
                "command": command},
            "metrics": {"validation": outcome.metrics,
                        "held_out": {"group": summarise_rows(candidate_rows),
                                     "noise_edge": summarise_rows(reference_rows),
                                     "target": verdict, "not_worse": not_worse}},
            "code_version": code_version(), "seed": seed, "history": outcome.history,
        }
        model_path, card_path = Path(GROUP_SHIPPED_MODEL_PATH), Path(GROUP_SHIPPED_MODEL_CARD_PATH)
        if options["output_dir"] is not None:
            options["output_dir"].mkdir(parents=True, exist_ok=True)
            model_path = options["output_dir"] / model_path.name
            card_path = options["output_dir"] / card_path.name
        elif not not_worse["ok"]:
            # a model worse than the rule it replaces is never shipped: the noise-edge
            # rule stays the default method's fallback
            self.stdout.write(json.dumps(not_worse["failures"]))
            raise CommandError("the trained group classifier is worse than the noise-edge "
                               "rule on the held-out set; nothing shipped (see above)")
        save_group_classifier(outcome.model, model_path, metadata=metadata)
        card_path.write_text(json.dumps(metadata, indent=1) + "\n")
        for entry in verdict["by_dose"]:
            self.stdout.write(f"  {entry['set']:8s} {entry['dose']:>7g}  " + "  ".join(
                f"{name} {m['candidate'] - m['reference']:+.3f}"
                for name, m in entry["measures"].items()))
        self.stdout.write(self.style.SUCCESS(
            f"wrote {model_path} and {card_path.name}; mean PSNR gain over the noise-edge "
            f"rule {verdict['psnr_gain_db']:+.2f} dB; target (not worse anywhere, +0.3 dB): "
            f"{'met' if verdict['ok'] else 'NOT met'}; not worse anywhere: {not_worse['ok']}"))
