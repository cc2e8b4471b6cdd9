"""The runner behind ``tools/paper_table.py``: the paper's CIFAR-100 tables as grids. Every
network × variant × seed is one ``train_cls`` run (a process of its own, or ``torchrun`` with
several GPUs) into its own work dir; finished runs are kept and skipped, unfinished ones
resumed. The final top-1/top-5 come from each run's last validation (the paper reports the
final epoch's accuracy); the table puts mean ± std over seeds and parameter counts beside the
paper's numbers.
"""
from __future__ import annotations

import glob
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from c3_dense.analysis.complexity import PAPER_CIFAR100, count_params
from c3_dense.analysis.paper_tables import ABLATION_TOP1, CIFAR100_TOP1
from c3_dense.errors import UserInputError
from c3_dense.config_files import configs_root

CIFAR_CONFIGS = os.path.join(configs_root(), "mmpretrain", "cifar100")
TABLES = ("cifar100", "ablation", "depth")
VARIANT_SUFFIX = {"plain": "", "se": "_se", "c3": "_c3"}
# The C3 block's two published forms (c3_dense.core.FORMS): the configs of each, and how the
# table names its rows.
FORM_SUFFIX = {"authors": "_c3-authors", "paper": "_c3"}
FORM_LABEL = {"authors": " (authors' code)", "paper": " (paper's form)"}


@dataclass
class Run:
    """One cell of a grid: a config, its overrides, the row it belongs to, one seed."""
    row: str                 # c3_dense.models name, e.g. cifar_resnet56_c3
    label: str               # what the table prints, e.g. "ResNet-56 + C3"
    config: str
    options: Dict[str, object]
    seed: int
    paper_top1: Optional[float]
    form: str = ""           # the C3 block's form ("authors", "paper"); "" without C3

    @property
    def name(self) -> str:
        return f"{self.row}{'-' + self.form if self.form else ''}_seed{self.seed}"


def _network(depth) -> tuple:
    if depth == "wrn":
        return "cifar_wrn20_10", "WRN-20-10", "wrn20-10_1xb128-160e_cifar100{}.py"
    return f"cifar_resnet{depth}", f"ResNet-{depth}", f"resnet{depth}_1xb128-160e_cifar100{{}}.py"


def grid(table: str, depths: Sequence, variants: Sequence[str], seeds: Sequence[int],
         form: str = "authors") -> List[Run]:
    """The runs of ``table``: "cifar100" (networks × plain/se/c3), "ablation" (networks × the
    C3 variants full/enc_dec/message) or "depth" (ResNet-56 + C3 against deeper plain nets;
    ``depths`` are the plain depths). ``form``: the C3 block's ("authors": the code that made
    the paper's tables; "paper": its figure)."""
    if form not in FORM_SUFFIX:
        raise UserInputError(f"--form {form!r} is not one of {', '.join(FORM_SUFFIX)}")
    c3_suffix, c3_label = FORM_SUFFIX[form], FORM_LABEL[form]
    runs = []
    if table == "cifar100":
        for depth in depths:
            row, label, pattern = _network(depth)
            for variant in variants:
                if variant not in VARIANT_SUFFIX:
                    raise UserInputError(f"--variants: {variant!r} is not one of plain, se, c3")
                name = row + VARIANT_SUFFIX[variant]
                text = label + {"plain": "", "se": " + SE", "c3": " + C3" + c3_label}[variant]
                suffix = c3_suffix if variant == "c3" else VARIANT_SUFFIX[variant]
                config = os.path.join(CIFAR_CONFIGS, pattern.format(suffix))
                runs += [Run(name, text, config, {}, s, CIFAR100_TOP1.get(name),
                             form if variant == "c3" else "") for s in seeds]
    elif table == "ablation":
        for depth in depths:
            if depth == "wrn":
                raise UserInputError("the ablation table has ResNet-20/56/110 only")
            row, label, pattern = _network(depth)
            config = os.path.join(CIFAR_CONFIGS, pattern.format(c3_suffix))
            for variant in variants:
                if variant not in ("full", "enc_dec", "message"):
                    raise UserInputError(f"--variants: {variant!r} is not one of full, enc_dec, "
                                         "message (the C3 variants)")
                runs += [Run(f"{row}_c3_{variant}", f"{label} C3 {variant}{c3_label}", config,
                             {"model.backbone.variant": variant}, s,
                             ABLATION_TOP1.get((variant, int(depth))), form) for s in seeds]
    elif table == "depth":
        c3 = os.path.join(CIFAR_CONFIGS, f"resnet56_1xb128-160e_cifar100{c3_suffix}.py")
        runs += [Run("cifar_resnet56_c3", "ResNet-56 + C3" + c3_label, c3, {}, s,
                     CIFAR100_TOP1["cifar_resnet56_c3"], form) for s in seeds]
        plain = os.path.join(CIFAR_CONFIGS, "resnet56_1xb128-160e_cifar100.py")
        for depth in depths:
            if depth == "wrn" or (int(depth) - 2) % 6:
                raise UserInputError(f"--depths: {depth} is not a CIFAR ResNet depth (6n + 2)")
            row = f"cifar_resnet{depth}"
            runs += [Run(row, f"ResNet-{depth}", plain, {"model.backbone.depth": int(depth)}, s,
                         CIFAR100_TOP1.get(row)) for s in seeds]
    else:
        raise UserInputError(f"table {table!r} is not one of {', '.join(TABLES)}")
    return runs


def final_accuracy(work_dir: str) -> Optional[Dict[str, float]]:
    """top-1/top-5 of the last validation logged in ``work_dir`` (mmengine's scalars.json)."""
    best_step, result = -1, None
    for path in glob.glob(os.path.join(work_dir, "*", "vis_data", "scalars.json")):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                if "accuracy/top1" in entry and entry.get("step", 0) >= best_step:
                    best_step = entry.get("step", 0)
                    result = {"top1": entry["accuracy/top1"], "top5": entry.get("accuracy/top5")}
    return result


def _finished(work_dir: str, epochs: int) -> bool:
    return os.path.isfile(os.path.join(work_dir, f"epoch_{epochs}.pth"))


def run_grid(runs: List[Run], work_dir: str, epochs: int, data_root: str, gpus: int = 1,
             extra_options: Sequence[str] = (), verify_md5: bool = True, log=print) -> List[dict]:
    """Train every run not finished yet (resuming unfinished ones) and collect its result."""
    results, params = [], {}
    for i, run in enumerate(runs, 1):
        out = os.path.join(work_dir, run.name)
        options = {"train_cfg.max_epochs": epochs, "randomness.seed": run.seed, **run.options}
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
            options[f"{loader}.dataset.data_root"] = data_root
            options[f"{loader}.dataset.verify_md5"] = verify_md5
        if gpus > 1:  # the recipe's batch of 128 is the total: split it over the GPUs
            options["train_dataloader.batch_size"] = max(1, 128 // gpus)
        args = ["-m", "c3_dense", "train_cls", run.config, "--work-dir", out,
                "--cfg-options"] + [f"{k}={v}" for k, v in options.items()] + list(extra_options)
        if _finished(out, epochs):
            log(f"[{i}/{len(runs)}] {run.name}: finished earlier, kept")
        else:
            resume = ["--resume"] if os.path.isdir(out) else []
            command = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                        str(gpus)] if gpus > 1 else [sys.executable])
            log(f"[{i}/{len(runs)}] {run.name}: training {epochs} epochs in {out}")
            launcher = ["--launcher", "pytorch"] if gpus > 1 else []
            proc = subprocess.run(command + args[:4] + resume + launcher + args[4:],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                lines = proc.stderr.strip().splitlines() or ["no output"]
                errors = [x for x in lines if x.startswith("error:")]
                reason = (errors or lines)[-1]
                raise UserInputError(f"run {run.name} failed ({reason}); see {out}")
        accuracy = final_accuracy(out)
        if accuracy is None:
            raise UserInputError(f"run {run.name} logged no validation accuracy in {out}")
        if run.row not in params:  # one count per network, not per seed
            params[run.row] = _param_count(run)
        results.append({"row": run.row, "label": run.label, "seed": run.seed,
                        "paper_top1": run.paper_top1, **accuracy, "params": params[run.row]})
    return results


def _param_count(run: Run) -> int:
    from c3_dense.mmpretrain.engine import build_model, load_config

    return count_params(build_model(load_config(run.config, dict(run.options)), run.config))


def table(results: List[dict], epochs: int) -> str:
    """Markdown: one row per network/variant, mean ± std over seeds beside the paper."""
    rows: Dict[tuple, List[dict]] = {}
    for r in results:
        rows.setdefault((r["row"], r["label"]), []).append(r)
    lines = [f"| network | params (M) | paper params (M) | top-1 (%), {epochs} epochs | "
             "paper top-1 (%) | top-5 (%) | seeds |", "|---|---|---|---|---|---|---|"]
    for (row, label), group in rows.items():
        top1 = [g["top1"] for g in group]
        top5 = [g["top5"] for g in group if g["top5"] is not None]
        spread = f" ± {statistics.stdev(top1):.2f}" if len(top1) > 1 else ""
        paper_params = PAPER_CIFAR100.get(row, (None,))[0]  # ablation rows: not in the paper
        paper_top1 = group[0]["paper_top1"]
        lines.append(f"| {label} | {group[0]['params'] / 1e6:.2f} | {_or_dash(paper_params)} | "
                     f"{statistics.fmean(top1):.2f}{spread} | {_or_dash(paper_top1)} | "
                     f"{_or_dash(statistics.fmean(top5) if top5 else None, '.2f')} | "
                     f"{len(group)} |")
    return "\n".join(lines)


def _or_dash(value, fmt: str = "") -> str:
    return "–" if value is None else format(value, fmt)
