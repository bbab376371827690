"""The page checks' memory of pages found clean (checks.py): a page is passed without axe-core
only when it is the same as one already checked, and a page with a fault fails every time."""

import re

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Route

from tests.browser import checks

pytestmark = pytest.mark.slow

ORIGIN = "http://pages.invalid"
# A page of its own form, as Relay renders one: a CSRF token that is new on each render.
PAGE = """<!doctype html><html lang="en"><head><title>A page</title></head><body><main>
<h1>A page</h1><p>{text}</p><form method="post">
<input type="hidden" name="csrf_token" value="{token}">
<label for="name">Name</label><input id="name" name="name">{extra}
<button>Save</button></form></main></body></html>"""


@pytest.fixture
def page(browser: Browser):
    context = browser.new_context(base_url=ORIGIN, viewport=checks.DESKTOP)
    pages: dict[str, str] = {}

    def answer(route: Route) -> None:
        route.fulfill(body=pages[route.request.url], content_type="text/html")

    context.route(f"{ORIGIN}/page/**", answer)
    checks.serve_axe(context)
    page = context.new_page()

    def show(name: str, text: str = "Hello", token: str = "one", extra: str = "") -> None:
        pages[f"{ORIGIN}/page/{name}"] = PAGE.format(text=text, token=token, extra=extra)
        page.goto(f"/page/{name}")

    page.show = show
    yield page
    context.close()


def test_a_page_is_known_again_only_when_nothing_the_checks_see_has_changed(page):
    page.show("a", token="first render")
    first = checks._fingerprint(page)
    checks.assert_accessible(page)
    # Once checked (its axe-core script added), and rendered again with a new token: the same
    assert checks._fingerprint(page) == first
    page.show("a", token="second render")
    assert checks._fingerprint(page) == first
    # Another word on it, another address, or something typed into a field: not the same
    page.show("a", text="Goodbye")
    assert checks._fingerprint(page) != first
    page.show("b")
    assert checks._fingerprint(page) != first
    page.show("a")
    page.get_by_label("Name").fill("Jo")
    assert checks._fingerprint(page) != first
    # And a page with a frame is never known: what the frame shows is not in its markup
    page.show("a", extra='<iframe title="A scan" src="/page/b"></iframe>')
    assert checks._fingerprint(page) is None


def test_a_page_with_a_fault_fails_each_time_it_is_checked(page):
    page.show("faulty", extra='<input name="unlabelled">')
    for _ in range(2):
        with pytest.raises(AssertionError, match=re.escape("label (critical)")):
            checks.assert_accessible(page)
