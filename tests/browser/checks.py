"""What every page must pass, wherever a journey reaches it: axe-core at desktop width
and at 320 px (WCAG's reflow width) with nothing scrolling sideways, and visible focus.
Screenshots for people to look at come from here too (SCREENSHOTS=1)."""

import hashlib
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"

DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 320, "height": 640}
PHONE = {"width": 375, "height": 667}

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""

# Elements that stick out past the right edge: the cause of sideways scrolling.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) { return []; }
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.classList.length ? "." + [...el.classList].join(".") : "");
  return [...document.body.querySelectorAll("*")]
    .filter(el => el.getBoundingClientRect().right > width + 1)
    .filter(el => ![...el.children].some(c => c.getBoundingClientRect().right > width + 1))
    .slice(0, 5)
    .map(el => describe(el) + " reaches " + Math.round(el.getBoundingClientRect().right) + "px");
}"""

# Ids that a label, an in-page link or an ARIA reference points at, used more than once:
# the reference reaches only the first. axe-core no longer checks this for labels.
_DUPLICATE_IDS = r"""() => {
  const referenced = new Set();
  document.querySelectorAll("label[for]").forEach(label => referenced.add(label.htmlFor));
  for (const name of ["aria-describedby", "aria-labelledby", "aria-controls"]) {
    document.querySelectorAll(`[${name}]`).forEach(el =>
      el.getAttribute(name).split(/\s+/).filter(Boolean).forEach(id => referenced.add(id)));
  }
  document.querySelectorAll("a[href^='#']").forEach(a => {
    if (a.getAttribute("href").length > 1) { referenced.add(a.getAttribute("href").slice(1)); }
  });
  return [...referenced].filter(id =>
    document.querySelectorAll(`[id="${CSS.escape(id)}"]`).length > 1);
}"""

# Known faults in templates this suite may not change, each tracked by a strict xfail test
# (test_known_faults.py) that fails once it is fixed: then delete the entry here.
KNOWN_DUPLICATE_IDS: dict = {}

# Where the keyboard focus is, and whether a person can see it.
FOCUS = """([target, group]) => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) {
    return {onTarget: false, onPage: false};
  }
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== "none";
  const box = el.getBoundingClientRect();
  const inView = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0 &&
    box.top < window.innerHeight && box.left < window.innerWidth;
  const name = (el.labels && el.labels[0] ? el.labels[0].innerText : el.innerText || el.value || "")
    .trim().slice(0, 60);
  return {
    onTarget: el === target || (group && el.type === "radio" && el.name === target.name),
    onPage: true, visible: (outline || shadow) && inView,
    describe: `<${el.tagName.toLowerCase()}> "${name}" outline=${style.outlineStyle} ` +
      `${style.outlineWidth} shadow=${style.boxShadow} box=${Math.round(box.left)},` +
      `${Math.round(box.top)} ${Math.round(box.width)}x${Math.round(box.height)}`,
  };
}"""


# Relay's Content-Security-Policy allows scripts from its own origin only, and the tests
# keep that policy on (a refusal is a console error, which fails the test). So axe-core is
# not injected inline: the browser context answers this same-origin address with it.
AXE_ROUTE = "**/__browser-tests__/axe.min.js"


def serve_axe(context: BrowserContext) -> None:
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: run `npm ci` at the repository root")
    script = AXE.read_bytes()
    context.route(
        AXE_ROUTE, lambda route: route.fulfill(body=script, content_type="text/javascript")
    )


def _load_axe(page: Page) -> None:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url="/__browser-tests__/axe.min.js")


def axe_violations(page: Page) -> list[str]:
    _load_axe(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at `{node['target']}`: {node['summary']}"
        for v in page.evaluate(_RUN_AXE)
        for node in v["nodes"]
    ]


def duplicate_ids(page: Page, *, known: bool = False) -> list[str]:
    """Referenced ids used twice; `known=True` keeps those of KNOWN_DUPLICATE_IDS too."""
    found = page.evaluate(_DUPLICATE_IDS)
    if known:
        return found
    allowed = set().union(
        *(ids for where, ids in KNOWN_DUPLICATE_IDS.items() if where.search(page.url))
    )
    return [name for name in found if name not in allowed]


# What the checks below see of a page, for recognising one already found clean: its markup
# (with each form's CSRF token, new on every render and nothing the checks judge, blanked,
# and without the axe-core script the checks add), what its fields hold, where focus is,
# and the media features the context sets. A page with an iframe, an object or an embed is
# never recognised: what they show is not in its markup.
_SEEN_AS = """() => {
  if (document.querySelector("iframe, frame, object, embed")) { return null; }
  const copy = document.documentElement.cloneNode(true);
  const ours = "script[src*='/__browser-tests__/']";
  copy.querySelectorAll("input[name=csrf_token]").forEach(el => el.setAttribute("value", ""));
  copy.querySelectorAll(ours).forEach(el => el.remove());
  const fields = [...document.querySelectorAll("input, textarea, select")]
    .filter(el => el.name !== "csrf_token")
    .map(el => el.type === "checkbox" || el.type === "radio" ? String(el.checked) : el.value);
  // Where focus is, as its place among the page's elements (its markup is in the copy).
  const active = [...document.querySelectorAll("*")].filter(el => !el.matches(ours))
    .indexOf(document.activeElement);
  const media = ["(prefers-color-scheme: dark)", "(forced-colors: active)",
    "(prefers-reduced-motion: reduce)", "(prefers-contrast: more)"]
    .map(query => matchMedia(query).matches);
  return JSON.stringify([copy.outerHTML, fields, active, media, devicePixelRatio]);
}"""

# Pages this process has found clean, by `_fingerprint`. The journeys reach the same page
# again and again (the sign-in page in nearly every test, a case page after each gate):
# axe-core at two widths costs about half a second a page, and on the same markup, styles
# and fields it can only find the same.
_FOUND_CLEAN: set[str] = set()


def _fingerprint(page: Page) -> str | None:
    seen = page.evaluate(_SEEN_AS)
    if seen is None:
        return None
    address = urlsplit(page.url)
    # The path too, though the markup nearly always says it: KNOWN_DUPLICATE_IDS goes by it.
    key = f"{address.path}?{address.query}\n{page.viewport_size}\n{seen}"
    return hashlib.sha256(key.encode()).hexdigest()


def assert_accessible(page: Page) -> None:
    """No axe-core violation at 1280 px or at 320 px, and nothing scrolls sideways at 320 px.

    A page exactly like one already found clean in this run (see `_SEEN_AS`) passes
    without running them again."""
    fingerprint = _fingerprint(page)
    if fingerprint is not None and fingerprint in _FOUND_CLEAN:
        return
    _check_accessible(page)
    if fingerprint is not None:
        _FOUND_CLEAN.add(fingerprint)


def _check_accessible(page: Page) -> None:
    problems = []
    try:
        for size in (DESKTOP, NARROW):
            page.set_viewport_size(size)
            width = size["width"]
            problems += [f"at {width}px: {problem}" for problem in axe_violations(page)]
        problems += [f"at 320px, sideways scrolling: {e}" for e in page.evaluate(_OVERFLOW)]
        problems += [
            f"id {name!r} is used more than once; its label or link reaches only the first"
            for name in duplicate_ids(page)
        ]
    finally:
        page.set_viewport_size(DESKTOP)
    assert not problems, f"{page.url}\n" + "\n".join(problems)


def save_screenshots(page: Page, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            page.screenshot(path=folder / f"{name}-{size['width']}.png", full_page=True)
    finally:
        page.set_viewport_size(DESKTOP)


class PageRecorder:
    """Runs the checks after each navigation of a test; names its screenshots in order."""

    def __init__(self, test_name: str) -> None:
        self.folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)
        self.count = 0
        self.screenshots = os.environ.get("SCREENSHOTS") == "1"
        if self.screenshots:
            shutil.rmtree(self.folder, ignore_errors=True)

    def checker(self, *, accessibility: bool):
        def after_navigation(page: Page, kind: str) -> None:
            if accessibility:
                assert_accessible(page)
            if self.screenshots:
                self.count += 1
                save_screenshots(page, self.folder, f"{self.count:02d}-{kind}")

        return after_navigation
