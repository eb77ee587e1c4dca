"""The article as a reader sees it: the tiny run's ``results/article/article.html`` in
headless Chromium (the Debian package ``chromium``; ``.ci/run`` installs it).

A small script injected at the top of a copy of the page records console errors,
uncaught exceptions and resources that failed to load; after the page has loaded it
lists the images that did not decode, the headings and the in-page links, and writes
all of it into the DOM, which ``chromium --dump-dom`` returns. A full-page screenshot
is saved in the tiny run's directory (``screenshots/article.png``, beside its
``results/``) and copied to a fixed path printed in the output.
Skipped when no Chromium is installed.
"""

import html as html_lib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from secondorder import article

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in map(shutil.which, BROWSERS) if b), None)
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (Debian: "
                                 "apt-get install chromium; .ci/run does it)")]

#: The article's sections (h2), as the library writes them (every one shows, saying so
#: where the run lacks its part), and its title (h1, and the page's <title>).
SECTIONS = [section.HEADING for section in article.SECTIONS[1:]]
#: Figures with the tiny config (at least): data (2), predicted classes, training
#: curves, the study (5) and the scaling figure.
N_FIGURES = 10
SCREENSHOT_COPY = Path(tempfile.gettempdir()) / "secondorder-article-tiny.png"

PROBE = """<script>
(function () {
  var report = {errors: [], failed: []};
  var error = console.error;
  console.error = function () {
    report.errors.push(Array.prototype.map.call(arguments, String).join(" "));
    return error.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      report.failed.push((t.tagName || "") + " " + (t.src || t.href).slice(0, 200));
    } else {
      report.errors.push("uncaught: " + (e.message || String(e)));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) {
    report.errors.push("unhandled rejection: " + String(e.reason));
  });
  window.addEventListener("load", function () {
    setTimeout(function () {
      var images = Array.prototype.slice.call(document.images);
      report.images = images.length;
      report.broken = images.filter(function (i) {
        return !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
      }).map(function (i) { return (i.getAttribute("src") || "").slice(0, 100); });
      report.headings = Array.prototype.map.call(
        document.querySelectorAll("h1, h2, h3"), function (h) {
          return {level: h.tagName, id: h.id, text: h.textContent.replace(/\\u00b6/g, "").trim()};
        });
      report.links = Array.prototype.map.call(
        document.querySelectorAll("a[href^='#']:not(.anchor-link)"),
        function (a) { return a.getAttribute("href").slice(1); });
      report.text = document.body.innerText;
      report.title = document.title;
      report.height = Math.max(document.body.scrollHeight,
                               document.documentElement.scrollHeight);
      var pre = document.createElement("pre");
      pre.id = "browser-check";
      pre.textContent = JSON.stringify(report);
      document.body.appendChild(pre);
    }, 500);
  });
})();
</script>"""

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", "--mute-audio"]


def _chromium(*args, timeout=120):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def page(tiny_run, tmp_path_factory):
    """What the browser saw in the tiny run's article: the probe's report."""
    html = tiny_run / "results" / "article" / "article.html"
    assert html.is_file(), html
    text = html.read_text(encoding="utf-8")
    probed = tmp_path_factory.mktemp("browser") / "article.html"
    head = re.search(r"<head[^>]*>", text)
    assert head, "article.html has no <head>"
    probed.write_text(text[:head.end()] + PROBE + text[head.end():], encoding="utf-8")
    proc = _chromium("--virtual-time-budget=15000", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page never finished loading:\n{proc.stderr[-3000:]}"
    report = json.loads(html_lib.unescape(match[1]))
    report["html"] = html
    return report


def test_no_console_errors(page):
    assert page["errors"] == [], page["errors"]


def test_no_broken_images(page):
    assert page["images"] >= N_FIGURES, page["images"]
    assert page["broken"] == [], page["broken"]


def test_only_remote_resources_may_fail(page):
    """Everything the article needs is inside the file (images embedded); only the CDN
    scripts nbconvert links (require.js, MathJax) may be unreachable offline."""
    local = [f for f in page["failed"] if not re.search(r"\shttps?://", f)]
    assert local == [], local
    if page["failed"]:
        print("\n[browser] remote resources not loaded (offline?):", page["failed"])


def test_every_section_is_there_in_order(page):
    h2 = [h["text"] for h in page["headings"] if h["level"] == "H2"]
    assert h2 == SECTIONS, h2
    assert [h["text"] for h in page["headings"] if h["level"] == "H1"] == [article.TITLE]
    assert page["title"] == article.TITLE  # the browser's tab


def test_table_of_contents_links_resolve(page):
    ids = {h["id"] for h in page["headings"]}
    targets = {unquote(link) for link in page["links"]}
    unresolved = sorted(t for t in targets if t not in {unquote(i) for i in ids})
    assert unresolved == [], unresolved
    h2_ids = {unquote(h["id"]) for h in page["headings"] if h["level"] == "H2"}
    assert "Contents" in page["text"], "no table of contents"
    listed = targets & h2_ids
    assert listed == h2_ids, f"sections missing from the contents: {h2_ids - listed}"


def test_figures_are_numbered_with_captions(page):
    numbers = [int(n) for n in re.findall(r"^Figure (\d+)\. \S", page["text"], re.M)]
    assert len(numbers) >= N_FIGURES and numbers == list(range(1, len(numbers) + 1)), numbers
    assert page["images"] >= len(numbers)


def test_full_page_screenshot(page):
    html = page["html"]
    # beside the run's results/, not in it: every file in results/ is an artifact of
    # the manifest (tests/test_audit.py)
    out = html.parents[2] / "screenshots" / "article.png"
    out.parent.mkdir(exist_ok=True)
    height = min(int(page["height"]) + 40, 16000)  # Chromium's largest texture
    proc = _chromium(f"--window-size=1280,{height}", "--virtual-time-budget=10000",
                     f"--screenshot={out}", html.as_uri(), timeout=180)
    assert out.is_file() and out.stat().st_size > 50_000, proc.stderr[-3000:]
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (1280, height), im.size
        # not a blank page: many distinct colours
        assert len(im.convert("RGB").resize((320, height // 4)).getcolors(1 << 16) or []) > 50
    shutil.copyfile(out, SCREENSHOT_COPY)
    print(f"\n[browser] full-page screenshot of the tiny run's article ({height} px high): "
          f"{out}\n[browser] copy: {SCREENSHOT_COPY}")
