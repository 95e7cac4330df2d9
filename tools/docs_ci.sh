#!/usr/bin/env bash
# The documentation checks, for .ci/run: one PASS/FAIL line per check, exit 1 when any fails.
#   tools     the unit tests of these tools
#   readme    README.md is generated from nbs/index.ipynb (tools/build_readme.py, for nbdev_readme without Quarto)
#   notebooks every notebook: no image of the ALL dataset in any output; numbered notebooks: own Colab badge, Colab-only install cell
#   docs      nbdev's proc_nbs + smalldocs (for Quarto) build the site into _docs/: every page, API entry, link
#   browser   Playwright drives the system Chromium: each page loads with no console error, search works; screenshots in
#             .ci/artifacts/screenshots/
# Needs: pip install -e ".[dev]" (nbdev, smalldocs, playwright) and Debian's chromium (apt-get install -y chromium).
set -u
cd "$(dirname "$0")/.."
failed=()

step() {  # step NAME COMMAND...: run it, print its output and one PASS/FAIL line
  local name=$1; shift
  local start=$SECONDS
  "$@"
  local rc=$?
  if [ $rc -eq 0 ]; then echo "PASS $name ($((SECONDS - start)) s)"; else echo "FAIL $name ($((SECONDS - start)) s)"; failed+=("$name"); fi
  return $rc
}

step tools python -m unittest discover -s tools/tests -q
step readme python tools/build_readme.py --check
step notebooks python tools/check_notebooks.py
step docs python tools/check_docs.py
docs_rc=$?
if [ $docs_rc -eq 2 ] || [ ! -f _docs/index.html ]; then
  echo "FAIL browser (not run: the site could not be built)"; failed+=(browser)
else
  step browser python tools/browser_check.py
fi

if [ ${#failed[@]} -eq 0 ]; then echo "docs CI: PASS"; exit 0; fi
echo "docs CI: FAIL (${failed[*]})"
exit 1
