"""Run notebooks top to bottom in a Jupyter kernel, as a Colab user does, with their parameters overridden.

    python tools/run_notebooks.py [NOTEBOOK ...] [--set NAME=VALUE ...] [--overrides tools/colab_overrides.json]

nbdev_test skips cells by flag and runs in its own shell; this runs every cell, in order, in a real kernel (nbclient).
The overrides are injected papermill-style: a new code cell right after the parameter cell, the first code cell after
the Markdown cell whose first line is `## Parameters`. Values come from the overrides file (a JSON object: notebook
name without `.ipynb`, or `*` for all, to {NAME: value}) and then from `--set NAME=VALUE` (VALUE a Python literal, else
a string); in string values `{data}` is the dataset folder and `{tmp}` the working folder. An override of a name
that the parameter cell does not assign is an error (the parameter was renamed). The notebooks run in order in one
fresh temporary working folder, as a user runs them one after another in a Colab runtime, where the repository is
not the working folder (so `runs/...` written by one is there for the next). Executed notebooks are never written
back (`--save DIR` keeps copies). Exit 1 if any cell fails.
"""
import argparse, ast, json, os, re, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parameter_cell(nb) -> int | None:
    "Index of the first code cell after the Markdown cell whose first line is `## Parameters`."
    after = False
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'markdown' and c.source.strip().lower().startswith('## parameters'): after = True
        elif after and c.cell_type == 'code': return i
    return None


def assigned_names(source: str) -> set:
    "Names assigned at the top level of a cell (`A = ...`, `A, B = ...`, inside `if` blocks too)."
    code = '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('%', '!')))
    return {t.id for node in ast.walk(ast.parse(code)) if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            for t in ast.walk(target) if isinstance(t, ast.Name)}


def literal(value: str):
    "A `--set` value: a Python literal if it parses as one, else the string itself."
    try: return ast.literal_eval(value)
    except (ValueError, SyntaxError): return value


def overrides_for(name: str, table: dict, sets: dict, subs: dict) -> dict:
    "{NAME: value} for notebook `name`: the table's `*` entry, its own entry, then `--set`; `{data}`, `{tmp}` filled in."
    vals = {**table.get('*', {}), **table.get(name, {}), **sets}
    return {k: v.format(**subs) if isinstance(v, str) else v for k, v in vals.items()}


def inject(nb, values: dict) -> list[str]:
    "Insert a cell assigning `values` after the parameter cell; problems (no parameter cell, unknown names)."
    if not values: return []
    i = parameter_cell(nb)
    if i is None: return ['no `## Parameters` cell to override']
    unknown = sorted(set(values) - assigned_names(nb.cells[i].source))
    if unknown: return [f'the parameter cell does not assign {", ".join(unknown)}: update the overrides']
    import nbformat
    src = '# Parameters injected by tools/run_notebooks.py\n' + ''.join(f'{k} = {v!r}\n' for k, v in values.items())
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(src, metadata={'tags': ['injected-parameters']}))
    return []


def run_one(path: Path, values: dict, cwd: Path, timeout: int, save: Path | None) -> str | None:
    "Execute one notebook in `cwd`; None if every cell ran, else the error."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    problems = inject(nb, values)
    if problems: return '; '.join(problems)
    client = NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(cwd)}})
    try: client.execute()
    except CellExecutionError as e: return re.sub(r'\x1b\[[0-9;]*m', '', str(e))[-3000:]
    finally:
        if save: save.mkdir(parents=True, exist_ok=True); nbformat.write(nb, save / path.name)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', type=Path, help='default: nbs/[0-9]*.ipynb')
    ap.add_argument('--overrides', type=Path, default=ROOT / 'tools' / 'colab_overrides.json')
    ap.add_argument('--set', action='append', default=[], metavar='NAME=VALUE', help='override a parameter (repeatable)')
    ap.add_argument('--data', type=Path, default=ROOT.parent / 'shared' / 'data' / 'leukemia-all', help='for {data}')
    ap.add_argument('--timeout', type=int, default=900, help='seconds per cell')
    ap.add_argument('--save', type=Path, help='write the executed notebooks here')
    args = ap.parse_args(argv)
    table = json.loads(args.overrides.read_text(encoding='utf-8')) if args.overrides.exists() else {}
    sets = {k: literal(v) for k, _, v in (s.partition('=') for s in args.set)}
    notebooks = args.notebooks or sorted((ROOT / 'nbs').glob('[0-9]*.ipynb'))
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)
    failed, t_all = [], time.time()
    with tempfile.TemporaryDirectory(prefix='colab-path-') as tmp:
        for path in notebooks:
            values = overrides_for(path.stem, table, sets, {'data': str(args.data.resolve()), 'tmp': tmp})
            t = time.time()
            err = run_one(path.resolve(), values, Path(tmp), args.timeout, args.save)
            print(f'colab path: {"FAIL" if err else "ok"} {path.name} ({time.time() - t:.0f} s)'
                  + (f' with {", ".join(f"{k}={v!r}" for k, v in values.items())}' if values else ''), flush=True)
            if err: print(err, flush=True); failed.append(path.name)
    print(f'colab path: {len(notebooks) - len(failed)} notebook(s) ran top to bottom, {len(failed)} failed '
          f'({time.time() - t_all:.0f} s)' + (f': {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
