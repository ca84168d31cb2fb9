"""How a report page travels: its body and plotly.js packed with gzip inside the one HTML file, and
the script that unpacks them in the browser; :func:`report_text` unpacks a page without one.

A run's tables and figures' data compress about tenfold and plotly.js from 1.2 MB to about 0.4 MB,
so a run's page stays well under 1.5 MB. Unpacking needs ``DecompressionStream`` (Chrome/Edge 80,
Firefox 113, Safari 16.4 or later); nothing is fetched.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
from pathlib import Path

__all__ = ["DEFERRED_SCRIPT", "pack_body", "plotly_js", "report_text"]


def plotly_js() -> str:
    """plotly.js for the page: the basic bundle shipped with semlink (scatter traces: all the report draws;
    1.2 MB), else the plotly package's full bundle (4.8 MB)."""
    from importlib.resources import files

    bundle = files("semlink.sim") / "assets" / "plotly-basic.min.js"
    if bundle.is_file():
        return bundle.read_text(encoding="utf-8")
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


#: Figures' scripts wait under this type until plotly.js is unpacked (:func:`pack_body` runs them).
DEFERRED_SCRIPT = "text/x-semlink-after-plotly"

#: Unpacks the page's body and plotly.js, both gzip-compressed (``DecompressionStream``: Chrome/Edge
#: 80, Firefox 113, Safari 16.4 or later; nothing is fetched), shows the body, runs the page's own
#: script (sorting, filtering), then plotly.js and every figure's script in page order.
_LOADER = """
(async function () {
  document.documentElement.dataset.report = "unpacking";
  function packed(id) {
    var text = document.getElementById(id).textContent.trim();
    var bytes = Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); });
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  }
  var main = document.getElementById("report");
  if (!("DecompressionStream" in window)) {
    main.innerHTML = '<p class="warn">This browser cannot unpack the report: it needs DecompressionStream '
      + "(Chrome or Edge 80, Firefox 113, Safari 16.4 or later). In Python: "
      + "semlink.sim.report_html.report_text(path) gives the page as text.</p>";
    document.documentElement.dataset.report = "unreadable";
    return;
  }
  main.innerHTML = await packed("report-body-gzip");
  __PAGE_SCRIPT__
  (0, eval)(await packed("plotly-js-gzip"));
  document.querySelectorAll('script[type="__DEFERRED__"]').forEach(function (s) { (0, eval)(s.textContent); });
  document.documentElement.dataset.report = "ready";
})();
""".replace("__DEFERRED__", DEFERRED_SCRIPT)


def _gzip_base64(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def report_text(path: str | os.PathLike[str]) -> str:
    """A report page as text with its body unpacked (what a browser shows, markup included), for
    reading a report without a browser (``grep``, tests)."""
    page = Path(path).read_text(encoding="utf-8")
    match = re.search(r'<script id="report-body-gzip" type="application/gzip;base64">([^<]*)</script>', page)
    if match is None:
        return page  # a page written before the body was packed
    body = gzip.decompress(base64.b64decode(match.group(1))).decode("utf-8")
    return page.replace('<main id="report"></main>', f'<main id="report">{body}</main>', 1)


def pack_body(body: str, page_script: str) -> str:
    """``<body>…</body>`` of a page whose ``body`` HTML and plotly.js travel packed; ``page_script`` (the
    page's own JavaScript) runs once the body is shown, before plotly.js and the figures' scripts."""
    return ('<body><main id="report"></main>'
            '<noscript><p class="warn">This report needs JavaScript (its body and plotly.js are packed with gzip). '
            "In Python, semlink.sim.report_html.report_text(path) gives the page as text.</p></noscript>\n"
            f'<script id="report-body-gzip" type="application/gzip;base64">{_gzip_base64(body)}</script>\n'
            f'<script id="plotly-js-gzip" type="application/gzip;base64">{_gzip_base64(plotly_js())}</script>\n'
            f"<script>{_LOADER.replace('__PAGE_SCRIPT__', page_script.strip())}</script></body>")
