"""Stands in for `nbdev_readme`, which needs Quarto (absent here): README.md from nbs/index.ipynb, and a check.

    python tools/build_readme.py           # run index.ipynb's code cells, save their outputs, write README.md
    python tools/build_readme.py --check   # exit 1 when README.md or index.ipynb's outputs are out of date

`nbdev_readme` renders the README through Quarto; this does the same job in Python. The notebook's Markdown cells are
copied; a code cell gives its code (unless `#| echo: false`) and its outputs; `#| hide` and `#| include: false` cells,
raw cells and directives are dropped. Links and images relative to `nbs/` are rewritten relative to the repository
root, and Quarto callouts become GitHub alerts. An image output cannot be shown by GitHub from inside a README, so it
is an error: save the figure as a file (see tools/draw_pipeline.py) and link it from Markdown.
"""
import argparse, difflib, json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = ('<!-- This file is generated from nbs/index.ipynb by tools/build_readme.py. Do not edit it: edit the notebook '
          '(or nbs/results.json) and run `python tools/build_readme.py`. -->\n\n')
CALLOUTS = {'note': 'NOTE', 'tip': 'TIP', 'important': 'IMPORTANT', 'warning': 'WARNING', 'caution': 'CAUTION'}
_re_directive = re.compile(r'^\s*#\s*\|\s*(.*?)\s*$')
_re_scheme = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#|^/')


def split_directives(source: str) -> tuple[dict, str]:
    "The `#| key: value` directives at the top of a code cell, as a dict, and the code after them."
    lines, directives = source.splitlines(), {}
    while lines and (m := _re_directive.match(lines[0])):
        key, _, value = m.group(1).partition(':')
        directives[key.strip()] = value.strip() if _ else True
        lines.pop(0)
    return directives, '\n'.join(lines).strip('\n')


def is_false(value) -> bool: return str(value).strip().lower() in ('false', 'no', '0')


def rewrite_link(target: str, prefix: str) -> str:
    "A link as seen from the repository root: relative links get `prefix`; absolute ones and anchors are kept."
    return target if _re_scheme.match(target) else prefix + target


def rewrite_links(md: str, prefix: str = 'nbs/') -> str:
    "Rewrite relative Markdown links and images, and `src`/`href` attributes, outside code blocks."
    out, fence = [], None
    for line in md.split('\n'):
        m = re.match(r'^\s*(`{3,}|~{3,})', line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence): fence = None
            out.append(line); continue
        if m: fence = m.group(1); out.append(line); continue
        parts = re.split(r'(`[^`]*`)', line)  # leave inline code alone
        for i in range(0, len(parts), 2):
            parts[i] = re.sub(r'(\]\()\s*([^)\s]+)', lambda m: m.group(1) + rewrite_link(m.group(2), prefix), parts[i])
            parts[i] = re.sub(r'((?:src|href)=")([^"]+)', lambda m: m.group(1) + rewrite_link(m.group(2), prefix), parts[i])
        out.append(''.join(parts))
    return '\n'.join(out)


def callouts_to_alerts(md: str) -> str:
    "Turn Quarto callouts (`::: {.callout-warning title=\"...\"}` ... `:::`) into GitHub alerts (`> [!WARNING]`)."
    out, inside = [], False
    for line in md.split('\n'):
        m = re.match(r'^:::+\s*\{\s*\.callout-(\w+)([^}]*)\}\s*$', line)
        if m and not inside:
            inside = True
            out.append(f'> [!{CALLOUTS.get(m.group(1).lower(), "NOTE")}]')
            title = re.search(r'title\s*=\s*"([^"]*)"', m.group(2))
            if title: out.append(f'> **{title.group(1)}**\n>')
            continue
        if inside and re.match(r'^:::+\s*$', line):
            inside = False; continue
        if inside:
            h = re.match(r'^#{1,6}\s+(.*)$', line)
            out.append(f'> **{h.group(1)}**' if h else ('> ' + line if line.strip() else '>'))
        else: out.append(line)
    return '\n'.join(out)


def output_markdown(output: dict, where: str) -> str:
    "One cell output as GitHub Markdown."
    kind = output.get('output_type')
    if kind == 'stream':
        return '' if output.get('name') == 'stderr' else fenced(''.join(output.get('text', '')))
    if kind == 'error':
        raise ValueError(f'{where}: the notebook has an error output ({output.get("ename")}: {output.get("evalue")}); '
                         'fix the cell and run python tools/build_readme.py')
    data = output.get('data', {})
    text = lambda mime: ''.join(data[mime]) if isinstance(data[mime], list) else str(data[mime])
    if 'text/markdown' in data: return text('text/markdown').strip('\n')
    if 'text/html' in data: return text('text/html').strip('\n')
    if any(k.startswith('image/') for k in data):
        raise ValueError(f'{where}: an image output cannot be shown in README.md; save the figure as a file in nbs/ '
                         'and link it from a Markdown cell')
    if 'text/plain' in data: return fenced(text('text/plain'))
    return ''


def fenced(text: str, lang: str = '') -> str:
    text = text.strip('\n')
    return f'```{lang}\n{text}\n```' if text else ''


def notebook_markdown(nb: dict, name: str = 'index.ipynb') -> str:
    "The README text of a notebook: Markdown cells, and code cells with their outputs as Quarto would show them."
    blocks = []
    for i, cell in enumerate(nb['cells']):
        source = ''.join(cell.get('source', ''))
        if cell['cell_type'] == 'markdown':
            blocks.append(source.strip('\n'))
        elif cell['cell_type'] == 'code':
            directives, code = split_directives(source)
            if 'hide' in directives or is_false(directives.get('include', True)): continue
            if code and not is_false(directives.get('echo', True)): blocks.append(fenced(code, 'python'))
            if not is_false(directives.get('output', True)):
                blocks += [output_markdown(o, f'{name} cell {i}') for o in cell.get('outputs', [])]
    md = '\n\n'.join(b for b in blocks if b)
    return HEADER + rewrite_links(callouts_to_alerts(md)) + '\n'


def run_notebook(nb_path: Path) -> dict:
    "Run the code cells of a notebook in a fresh IPython shell in its folder; the notebook, as a dict, with new outputs."
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    nb, cwd = read_nb(nb_path), os.getcwd()
    shell = CaptureShell()
    try:
        os.chdir(nb_path.parent)
        shell.run_all(nb, exc_stop=True)
    except Exception as e:
        raise RuntimeError(f'{nb_path}: a cell failed while running it: {e!r}') from e
    finally: os.chdir(cwd)
    fresh = json.loads(nb_path.read_text(encoding='utf-8'))
    for cell, ran in zip(fresh['cells'], nb.cells):
        if cell['cell_type'] == 'code':
            cell['outputs'] = json.loads(json.dumps(ran.get('outputs', [])))
            cell['execution_count'] = None
    return fresh


def diff(a: str, b: str, a_name: str, b_name: str, n: int = 40) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), a_name, b_name, lineterm=''))
    return '\n'.join(lines[:n] + ([f'... ({len(lines) - n} more diff lines)'] if len(lines) > n else []))


def check(index: Path, readme: Path) -> list[str]:
    "Problems that make README.md and index.ipynb disagree, each with the command that fixes it."
    problems, fix = [], 'run: python tools/build_readme.py'
    committed = notebook_markdown(json.loads(index.read_text(encoding='utf-8')), index.name)
    current = readme.read_text(encoding='utf-8') if readme.exists() else ''
    if current != committed:
        problems.append(f'{readme.name} differs from {index.name}; {fix}\n' +
                        diff(current, committed, str(readme.name), f'from {index.name}'))
    fresh = notebook_markdown(run_notebook(index), index.name)
    if fresh != committed:
        problems.append(f'the outputs saved in {index.name} are stale (results.json or the notebooks changed); {fix}\n' +
                        diff(committed, fresh, f'{index.name} as saved', f'{index.name} run now'))
    return problems


def build(index: Path, readme: Path) -> str:
    "Run the index notebook, save its outputs (cleaned with nbdev_clean), and write README.md."
    fresh = run_notebook(index)
    index.write_text(json.dumps(fresh, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    subprocess.run(['nbdev_clean', '--fname', str(index)], check=True, cwd=ROOT)
    text = notebook_markdown(json.loads(index.read_text(encoding='utf-8')), index.name)
    readme.write_text(text, encoding='utf-8')
    return text


def pending(results_json: Path):
    "Print a note for each figure of the results table that is still empty."
    try: rows = json.loads(results_json.read_text(encoding='utf-8'))['rows']
    except (OSError, ValueError, KeyError): return
    for r in rows:
        for key, what in (('ours', 'not yet measured'), ('reference', 'reference figure not filled in')):
            if r.get(key) in (None, ''): print(f"README check: NOTE {results_json.name}: {r.get('model')}, {r.get('metric')}: {what}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='Generate README.md from nbs/index.ipynb, or check that they agree.')
    p.add_argument('--check', action='store_true', help='exit 1 when README.md or the outputs of index.ipynb are stale')
    p.add_argument('--index', type=Path, default=ROOT / 'nbs' / 'index.ipynb')
    p.add_argument('--readme', type=Path, default=ROOT / 'README.md')
    args = p.parse_args(argv)
    try:
        if args.check:
            problems = check(args.index, args.readme)
            for pr in problems: print(f'README check: {pr}', file=sys.stderr)
            if not problems: print(f'README check: {args.readme.name} matches {args.index.name}')
            pending(args.index.parent / 'results.json')
            return 1 if problems else 0
        build(args.index, args.readme)
        print(f'wrote {args.readme} from {args.index}')
        return 0
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f'README check: error: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
