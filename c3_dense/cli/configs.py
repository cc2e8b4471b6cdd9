"""List the shipped configs: task, data, variant, where the backbone weights come from, the
paper's number where the paper reports one for that network and data, and the weights (none
are released).

    c3-configs                           # every config (python -m c3_dense configs)
    c3-configs mmseg                     # one framework's
    c3-configs --grep voc --grep _c3     # names holding every given text
    c3-configs --json                    # the same as JSON
    c3-configs mmseg --metafile          # OpenMMLab's metafile (configs/mmseg/metafile.yml)
    c3-configs --model-index             # OpenMMLab's model-index.yml (what `mim search` reads)
"""
from __future__ import annotations

import json
import sys

from c3_dense.errors import CliParser, UserInputError, run_cli, summary


def main(argv=None) -> int:
    from c3_dense import model_zoo

    ap = CliParser(description=summary(__doc__))
    ap.add_argument("framework", nargs="?", choices=model_zoo.FRAMEWORKS)
    ap.add_argument("--grep", action="append", default=[], metavar="TEXT",
                    help="only names holding TEXT (repeatable: every one)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--metafile", action="store_true",
                    help="print the framework's OpenMMLab metafile (YAML)")
    ap.add_argument("--model-index", action="store_true",
                    help="print OpenMMLab's model-index.yml")

    def body():
        args = ap.parse_args(argv)
        if args.model_index:
            print(model_zoo.metafile_text(model_zoo.model_index()), end="")
            return
        if args.metafile:
            if not args.framework:
                raise UserInputError("--metafile needs a framework: c3-configs "
                                     f"{{{','.join(model_zoo.FRAMEWORKS)}}} --metafile")
            print(model_zoo.metafile_text(model_zoo.metafile(args.framework)), end="")
            return
        names = [n for n in model_zoo.list_configs(args.framework)
                 if all(t.lower() in n.lower() for t in args.grep)]
        if not names:
            raise UserInputError(f"no shipped config holds {' and '.join(args.grep)}; "
                                 "c3-configs alone lists them all")
        rows = [model_zoo.describe(n) for n in names]
        if args.json:
            print(json.dumps(rows, indent=1))
            return
        print("| config | task | data | variant | backbone weights | paper's result | weights |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            variant = r["variant"] + (f" ({r['form']} form)" if r["form"] else "")
            paper = (f"{r['paper']['metric']} {r['paper']['value']} ({r['paper']['note']})"
                     if r["paper"] else "–")
            print(f"| {r['config']} | {r['task']} | {r['data']} | {variant} | "
                  f"{r['pretrained']} | {paper} | {r['weights']} |")
        print(f"\n{len(rows)} configs; by name wherever a command takes a config "
              "(c3-train-det --config-file NAME, c3-train-seg NAME, ...)")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
