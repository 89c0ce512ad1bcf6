#!/usr/bin/env python3
"""The report pages in a real browser: Debian's chromium, headless, driven
through the DevTools protocol (cdp.py: a websocket client in Python's
standard library).  For every page test_report.py left in OUTDIR:

  - it draws (the script marks <body data-ready>), within 30 s;
  - no console message, no exception, no log entry (a refused request
    under the page's Content-Security-Policy is one);
  - no request but the page's own file:// URL;
  - the DOM's summary figures are `stats --json`'s (the heap page), and
    its top table's rows are the page's data for the default sample type
    and, for the pages of a .pprof, `go tool pprof -top` (without go, that
    part is skipped);
  - a screenshot, OUTDIR/NAME.png, is kept.

The check itself is shown to catch a request and a console error (a copy of
a page with an image from the network, with and without the policy).

Usage: test_browser.py OUTDIR.  Exit 77 when chromium is not installed.
"""
import html.parser
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Skip, check, equal, run as run_tests  # noqa: E402
import cdp  # noqa: E402
import reportlib  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "report-out"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
browser = None


class DomFigures(html.parser.HTMLParser):
    """The summary's cells (data-field -> data-value) and the top rows."""

    def __init__(self):
        super().__init__()
        self.fields, self.rows = {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-field" in a:
            self.fields[a["data-field"]] = a.get("data-value")
        if tag == "tr" and "data-name" in a:
            self.rows.append((a["data-name"], int(a["data-flat"]), int(a["data-cum"])))


def load(name, url=None):
    page = browser.open(url or "file://" + os.path.abspath(os.path.join(OUT, name)))
    ready = page.wait_for("document.body && (document.body.getAttribute('data-ready') || "
                          "document.body.getAttribute('data-error'))", timeout=30)
    browser.pump(0.3)  # late console messages
    return page, ready


def figures(page):
    dom = page.eval("document.documentElement.outerHTML")
    p = DomFigures()
    p.feed(dom)
    return p, dom


def check_page(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        raise Skip(f"{name} was not written (report_pages skipped it)")
    page, ready = load(name)
    equal(ready, "1", f"{name}: drawn")
    equal(page.console, [], f"{name}: console messages")
    own = "file://" + os.path.abspath(path)
    equal([u for u in page.requests if u != own], [], f"{name}: requests but the page")
    page.screenshot(os.path.join(OUT, name.replace(".html", ".png")))
    drawn = page.eval("+document.body.getAttribute('data-drawn-ms')")
    size = os.path.getsize(path)
    print(f"     {name}: {size} bytes, drawn {drawn} ms after the page began to load")
    dom, text = figures(page)
    data = reportlib.page_data(path)
    dtype = data["types"][data["default"]]["type"]
    want = reportlib.top_of(data, dtype)
    got = {n: (f, c) for n, f, c in dom.rows}
    check(dom.rows or not want, f"{name}: the top table has rows")
    # the table shows the first 2000 rows (by flat): each as the data says
    check(len(dom.rows) == min(len(want), 2000), f"{name}: {len(dom.rows)} rows of {len(want)}")
    for n, fc in got.items():
        equal(fc, want.get(n), f"{name}: row {n!r}")
    return page, dom, data, text


def test_heap_page():
    page, dom, data, text = check_page("heap.html")
    with open(os.path.join(OUT, "heap-stats.json")) as f:
        stats = json.load(f)
    for field, v in stats["totals"].items():
        if field in dom.fields:
            equal(dom.fields[field], str(v), f"the summary's {field}")
    for field in ("sys_bytes", "inuse_bytes", "inuse_objects", "free_bytes", "top_bytes",
                  "tcache_bytes", "fastbin_bytes", "released_bytes", "mmapped_bytes",
                  "overhead_bytes"):
        check(field in dom.fields, f"the summary shows {field}")
    equal(dom.fields.get("rss_bytes"), str(stats["rss_bytes"]), "the summary's RSS")
    check('data-part="inuse_bytes"' in text, "the bar has the in-use part")


def test_core_page():
    page, dom, data, text = check_page("core.html")
    equal(dom.fields.get("rss_bytes"), "", "a core's RSS: no figure (n/a)")
    equal(dom.fields.get("inuse_bytes"), str(data["stats"]["totals"]["inuse_bytes"]), "in use")


def test_dump_dom():
    """The same through chromium's own command line, as a user may run it:
    --dump-dom shows the drawn page's summary and top rows, --screenshot
    writes a picture (heap-cli.png)."""
    import subprocess
    url = "file://" + os.path.abspath(os.path.join(OUT, "heap.html"))
    common = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--window-size=1280,1400",
              "--user-data-dir=" + os.path.abspath(os.path.join(OUT, "chromium-cli"))]
    r = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    equal(r.returncode, 0, f"chromium --dump-dom: {r.stderr[-500:]}")
    check('data-ready="1"' in r.stdout, "the dumped DOM is drawn")
    dom = DomFigures()
    dom.feed(r.stdout)
    with open(os.path.join(OUT, "heap-stats.json")) as f:
        stats = json.load(f)
    for field in ("sys_bytes", "inuse_bytes", "inuse_objects", "top_bytes"):
        equal(dom.fields.get(field), str(stats["totals"][field]), f"--dump-dom: {field}")
    data = reportlib.page_data(os.path.join(OUT, "heap.html"))
    equal({n: (f, c) for n, f, c in dom.rows}, reportlib.top_of(data, "inuse_space"),
          "--dump-dom: the top rows")
    png = os.path.join(OUT, "heap-cli.png")
    r = subprocess.run(common + ["--screenshot=" + png, url], capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0 and os.path.getsize(png) > 1000, f"chromium --screenshot: {r.stderr[-500:]}")
    shutil.rmtree(os.path.join(OUT, "chromium-cli"), ignore_errors=True)


def go_check(name, pprof, types):
    if not reportlib.go():
        return
    page, dom, data, text = check_page(name)
    dtype = data["types"][data["default"]]["type"]
    unit = types[dtype]
    want = reportlib.go_top(os.path.join(OUT, pprof), dtype, unit, OUT)
    equal({n: (f, c) for n, f, c in dom.rows}, want, f"{name}: the DOM's top rows and go tool pprof -top")


def test_heap_pprof_page():
    check_page("heap-of-pprof.html")
    go_check("heap-of-pprof.html", "heap.pprof", {"inuse_space": "B"})


def test_cpu_pages():
    check_page("cpu.html")
    check_page("stacks.html")
    check_page("allocs.html")
    check_page("cpu-of-pprof.html")
    go_check("cpu-of-pprof.html", "cpu.pprof", {"cpu": "ns"})


def test_holders_page():
    page, dom, data, text = check_page("holders.html")
    with open(os.path.join(OUT, "holders-stats.json")) as f:
        stats = json.load(f)
    equal(dom.fields.get("direct_bytes"), str(stats["leaks"]["direct_bytes"]), "leaked (direct)")
    check("(leaked)" in {n for n, _, _ in dom.rows}, "(leaked) is a row")
    go_check("holders.html", "holders.pprof", {"inuse_space": "B"})


def test_live_holders_page():
    page, dom, data, text = check_page("live-holders.html")
    check("g_tracker" in {n for n, _, _ in dom.rows}, "g_tracker is a row")


def test_interaction():
    """Search, zoom, hover, sorting and the value chosen, as a user does
    them (real mouse events through the protocol)."""
    page, dom, data, text = check_page("holders.html")
    # search: the frames matching /leak/ are (leaked) and the two kinds
    # under it, counted once: the leaked bytes
    page.eval("var s = document.getElementById('search'); s.value = 'leak';"
              "s.dispatchEvent(new Event('input'))")
    with open(os.path.join(OUT, "holders-stats.json")) as f:
        lk = json.load(f)["leaks"]
    leaked = lk["direct_bytes"] + lk["indirect_bytes"]
    matched = page.eval("document.getElementById('matched').textContent")
    check(matched.startswith(f"matched: {leaked} B ("), f"search 'leak': {matched!r}, want {leaked} B")
    # zoom: a click on the left of the first row under the root is a click
    # on the root's largest child (children are drawn largest first)
    nt = len(data["types"])
    t = data["default"]
    n = len(data["parent"])
    cum = list(data["self"][t])
    for i in range(n - 1, 0, -1):
        cum[i - data["parent"][i]] += cum[i]
    kids = [i for i in range(1, n) if data["parent"][i] == i]
    biggest = data["names"][data["name"][max(kids, key=lambda i: cum[i])]]
    x, y = page.eval("(function(){var r = document.getElementById('canvas').getBoundingClientRect();"
                     "return [r.left + 3, r.top + 18 + 9];})()")
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    tip = page.eval("var t = document.getElementById('tip'); t.hidden ? '' : t.textContent")
    check(tip.startswith(biggest), f"hover: the tip names {biggest!r}: {tip!r}")
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
    equal(page.eval("document.getElementById('canvas-box').getAttribute('data-focus')"), biggest,
          "the click zoomed into the frame")
    page.eval("document.getElementById('reset').click()")
    equal(page.eval("document.getElementById('canvas-box').getAttribute('data-focus')"), "all",
          "reset zoom")
    # sorting: by cum (column 3), then the other way
    for order in ("desc", "asc"):
        page.eval("document.querySelector('#top-table th[data-col=\"3\"]').click()")
        cums = page.eval("Array.from(document.querySelectorAll('#top-table tbody tr'))"
                         ".map(function (r) { return +r.getAttribute('data-cum'); })")
        equal(cums, sorted(cums, reverse=order == "desc"), f"sorted by cum, {order}")
    # another value: the table follows it
    objects = [x["type"] for x in data["types"]].index("inuse_objects")
    page.eval(f"var s = document.getElementById('type'); s.value = '{objects}';"
              "s.dispatchEvent(new Event('change'))")
    dom, _ = figures(page)
    equal({n: (f, c) for n, f, c in dom.rows}, reportlib.top_of(data, "inuse_objects"),
          "the top table of inuse_objects")
    equal(page.console, [], "console messages after all that")
    del nt


def test_diff_page():
    page, dom, data, text = check_page("diff.html")
    check('class="grew"' in text and 'class="shrank"' in text, "the diff colours what grew and shrank")


def test_escaped_names():
    page, dom, data, text = check_page("nasty.html")
    equal(page.eval("document.title"), "pprof profile \u2014 heapgrab", "the title was not changed")
    names = {n for n, _, _ in dom.rows}
    for n in data["names"][1:]:
        check(n in names, f"{n!r} is a row, as it is")


def test_big_page():
    check_page("big.html")


def test_edge_pages():
    """No samples; negative values; 5,000 frames deep (drawn to 1,500 rows,
    searched)."""
    check_page("empty.html")
    check_page("negative.html")
    page, dom, data, text = check_page("deep.html")
    page.eval("var s = document.getElementById('search'); s.value = '^level_4999$';"
              "s.dispatchEvent(new Event('input'))")
    check(page.eval("document.getElementById('matched').textContent").startswith("matched: 3 "),
          "the deepest frame is found")
    height = page.eval("document.getElementById('canvas').height")
    check(0 < height <= 1500 * 18 * 2, f"the canvas is {height} pixels high")
    equal(page.console, [], "deep.html: console messages after the search")


def test_checker_catches_requests_and_errors():
    """The checks above can fail: a page that loads an image from the
    network and logs an error is caught, with its policy (refused: a log
    entry) and without (a request)."""
    with open(os.path.join(OUT, "nasty.html"), encoding="utf-8") as f:
        html_text = f.read()
    bad = html_text.replace("<main>", '<main><img src="http://127.0.0.1:9/x.png">'
                            '<script>console.error("broken")</script>', 1)
    for name, text, what in (("bad-csp.html", bad, "log"),
                             ("bad-nocsp.html", bad.replace("Content-Security-Policy", "x-none"),
                              "request")):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.write(text)
        page, ready = load(name)
        own = "file://" + os.path.abspath(os.path.join(OUT, name))
        others = [u for u in page.requests if u != own]
        if what == "log":
            check(any("Refused" in c or "Content Security Policy" in c for c in page.console),
                  f"{name}: the refused request is seen: {page.console}")
        else:
            check(any("127.0.0.1:9" in u for u in others), f"{name}: the request is seen: {others}")
            check(any("broken" in c for c in page.console), f"{name}: console.error seen: {page.console}")


def main():
    global browser
    if not CHROMIUM:
        print("report_browser: chromium is not installed (apt-get install chromium): skipped")
        return 77
    if not os.path.isdir(OUT):
        print(f"report_browser: {OUT} missing (report_pages makes it): skipped")
        return 77
    with cdp.Browser(CHROMIUM) as b:
        browser = b
        return run_tests("report_browser", [test_heap_page, test_core_page, test_dump_dom, test_heap_pprof_page, test_cpu_pages,
                                            test_holders_page, test_live_holders_page,
                                            test_interaction,
                                            test_diff_page, test_escaped_names, test_big_page, test_edge_pages,
                                            test_checker_catches_requests_and_errors])


if __name__ == "__main__":
    sys.exit(main())
