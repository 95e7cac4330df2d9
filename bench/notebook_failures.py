"""Every failing cell of some notebooks, not only the first: nbdev_test stops a notebook at its first error.

For a machine where one run must say everything, as a GPU lent for minutes (`gpu_checks.sh` runs it on the notebooks
nbdev_test failed). Each notebook runs as nbdev_test runs it (`IN_TEST=1`, cells with a `tst_flags` flag of
settings.ini skipped, in the notebook's folder), in a process of its own, all at once, and goes on after an error;
a later failure may follow from an earlier one. Prints one line per failing cell; exits 1 if any failed.

    python bench/notebook_failures.py nbs/01_cnn.ipynb nbs/02_qwen.ipynb
"""
import os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def failing_cells(fn: Path, skip_flags: set) -> list[str]:
    "Run notebook `fn` to its end; one line per cell that raised: its number, first line and error."
    from execnb.shell import CaptureShell, find_output
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    os.environ['IN_TEST'] = '1'
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb

    def skipped(cell):   # as nbdev_test decides
        if cell.cell_type != 'code' or 'nbdev_export' + '(' in cell.source: return True
        directives = getattr(cell, 'directives_', {}) or {}
        return directives.get('eval:', [''])[0].lower() == 'false' or bool(skip_flags & directives.keys())
    failures = []

    def record(cell):
        error = find_output(getattr(cell, 'outputs', None) or [], 'error')
        if error: failures.append(f'{fn.name} cell {cell.idx_ + 1} ({cell.source.strip().splitlines()[0][:70]}): '
                                  f'{error["ename"]}: {str(error["evalue"])[:300]}')
    with working_directory(fn.parent):
        CaptureShell(fn).run_all(nb, exc_stop=False, preproc=skipped, postproc=record)
    return failures


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ['--one']:
        from nbdev.config import get_config
        lines = failing_cells(Path(args[1]).resolve(), set(get_config().tst_flags.split()))
        print('\n'.join(lines) or f'{Path(args[1]).name}: every cell ran'); sys.exit(1 if lines else 0)
    if not args: sys.exit(__doc__)
    def run(nb):   # one notebook in a process of its own; its lines printed as soon as it ends
        r = subprocess.run([sys.executable, __file__, '--one', nb], capture_output=True, text=True)
        print('\n'.join(l for l in (r.stdout + r.stderr).splitlines()
                        if ' cell ' in l or 'every cell ran' in l or 'Error' in l), flush=True)
        return r.returncode
    with ThreadPoolExecutor(len(args)) as ex: codes = list(ex.map(run, args))
    sys.exit(1 if any(codes) else 0)


if __name__ == '__main__':
    main()
