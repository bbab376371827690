"""Page objects for a case with a party on paper (issue 10): adding them, a letter that came
on paper uploaded and typed in beside its scan, the review that checks the typing against
the scan, and the pages that print and post a letter to them. Built like those of
pages.py: each waits for its page, checks its heading and runs the checks of checks.py."""

import re

from playwright.sync_api import Download
from playwright.sync_api import Locator
from playwright.sync_api import expect

from tests.browser.pages import CasePage
from tests.browser.pages import ReviewPage
from tests.browser.pages import Screen

# A scan's page, once the browser has it: loaded and drawn, not a broken picture.
_PICTURE_SHOWN = "img => img.complete && img.naturalWidth > 0"


def _shown(picture: Locator) -> None:
    """Wait (as Playwright's expects do) until the browser has loaded and drawn `picture`."""
    expect(picture).to_be_visible()
    picture.page.wait_for_function(_PICTURE_SHOWN, arg=picture.element_handle())


class PaperCasePage(CasePage):
    """The case page, with what a case with a party on paper adds to it."""

    def add_someone_on_paper(self) -> "OnPaperPage":
        self.ui.follow(self.link("Add someone who takes part on paper"))
        return OnPaperPage(self.person)

    def invite_by_email(self, who: str, name: str, email: str, shown_as: str) -> "PaperCasePage":
        self.invite_someone().invite(who, name, email, shown_as)
        return PaperCasePage(self.person)

    def add_a_facilitator(self, email: str) -> "PaperCasePage":
        self.ui.fill(self.field("E-mail address of another facilitator"), email)
        self.ui.follow(self.button("Add a facilitator to this case"))
        return PaperCasePage(self.person)

    def record(self, gate: tuple[str, str], evidence: str) -> "PaperCasePage":
        super().record(gate, evidence)
        return PaperCasePage(self.person)

    def assess_risk(self, party: str, level: str, review_on: str, evidence: str) -> "PaperCasePage":
        super().assess_risk(party, level, review_on, evidence)
        return PaperCasePage(self.person)

    def start_the_exchange(self) -> "PaperCasePage":
        self.ui.follow(self.button("Start the exchange"))
        return PaperCasePage(self.person)

    def enter_a_paper_letter(self) -> "ScanUploadPage":
        self.ui.follow(self.link("Enter a paper letter"))
        return ScanUploadPage(self.person)

    def timeline(self) -> "TimelinePage":
        self.ui.follow(self.link("Case timeline: who did what, and when"))
        return TimelinePage(self.person)

    def person_line(self, shown_as: str) -> Locator:
        """The line of "People" about the party shown to the other as `shown_as`."""
        return self.page.get_by_role("listitem").filter(has_text=f"“{shown_as}”")


class OnPaperPage(Screen):
    kind = "case-on-paper"
    heading = re.compile(r"^Add someone who takes part on paper to case ")

    def add(self, who: str, shown_as: str) -> PaperCasePage:
        self.ui.choose(self.page.get_by_role("radio", name=who, exact=True))
        self.ui.fill(self.field("Name the other person will see"), shown_as)
        self.ui.follow(self.button("Add them"))
        return PaperCasePage(self.person)


class ScanUploadPage(Screen):
    """Step one of a paper letter: who wrote it, when it came, and its scan."""

    kind = "case-paper-letter"
    heading = re.compile(r"^A letter that came on paper for case ")

    def upload(
        self, who: str, came: str, envelope_dated: str, scan: bytes, name: str = "scan.png"
    ) -> "TypeInPage":
        self.ui.choose(self.page.get_by_role("radio", name=who, exact=True))
        self.ui.fill(self.field("The day the letter came"), came)
        self.ui.fill(self.field("The date on the envelope (optional)"), envelope_dated)
        self.field("The scan of the letter").set_input_files(
            {"name": name, "mimeType": "image/png", "buffer": scan}
        )
        self.ui.follow(self.button("Upload the scan"))
        return TypeInPage(self.person)


class TypeInPage(Screen):
    """Step two: Relay's first reading of the scan in a box beside the scan itself."""

    kind = "case-paper-type-in"
    heading = "Type in the letter from its scan"

    def draft_notice(self) -> Locator:
        return self.page.locator("#ocr-draft")

    def scan_pages(self) -> Locator:
        region = self.page.get_by_role("region", name="The scan")
        return region.get_by_role(
            "img", name=re.compile(r"^Page \d+ of \d+ of the scanned letter$")
        )

    def scan_shown(self) -> None:
        _shown(self.scan_pages().first)

    def letter(self) -> Locator:
        return self.field("The letter, as written")

    def save_and_send_for_checking(self, text: str) -> PaperCasePage:
        self.ui.fill(self.letter(), text)
        self.ui.follow(self.button("Save and send for checking"))
        return PaperCasePage(self.person)


class PaperReviewPage(ReviewPage):
    """A letter's page for its reviewer; for one typed in from paper, its scan beside."""

    SCAN_CHECKED = "I have compared the typed letter with the scan, word for word, and they match"

    def scan(self) -> Locator:
        return self.page.get_by_role("region", name="The scan it was typed from")

    def scan_shown(self) -> None:
        _shown(self.scan().get_by_role("img", name="Page 1 of 1 of the scanned letter"))

    def scan_checked(self) -> Locator:
        return self.field(self.SCAN_CHECKED)

    def tick_scan_checked(self) -> None:
        self.ui.choose(self.scan_checked())

    def approve(self) -> "PaperReviewPage":
        self.ui.follow(self.button("Approve and pass on"))
        return PaperReviewPage(self.person)

    def back_to_case(self) -> PaperCasePage:
        self.ui.follow(self.page.get_by_role("heading", level=1).get_by_role("link"))
        return PaperCasePage(self.person)

    def record_reached_them(self, how: str, on: str) -> "PaperReviewPage":
        self.ui.choose(self.page.get_by_role("radio", name=how, exact=True))
        self.ui.fill(self.field("On which day?"), on)
        self.ui.follow(self.button("Record that it reached them"))
        return PaperReviewPage(self.person)


class DeskPage(Screen):
    """The review queue, with the lists beside it."""

    kind = "review-queue"
    heading = "Letters to review"

    def to_print_and_post(self) -> Locator:
        """The list under "Letters to print and post"."""
        expect(self.page.get_by_role("heading", name="Letters to print and post")).to_be_visible()
        return self.page.locator("#to-post ~ ol").filter(
            has=self.page.get_by_role("link", name=re.compile(r"^print it"))
        )

    def open_to_post(self, letter_id: int) -> PaperReviewPage:
        self.ui.follow(
            self.to_print_and_post().get_by_role(
                "link", name=re.compile(rf"^Letter {letter_id} in case ")
            )
        )
        return PaperReviewPage(self.person)

    def print_it(self, letter_id: int) -> "PrintViewPage":
        self.ui.follow(self.link(f"print it (letter {letter_id})"))
        return PrintViewPage(self.person)


class PrintViewPage(Screen):
    kind = "print-view"
    heading = re.compile(r"^Letter from ")

    def letter(self) -> Locator:
        return self.page.locator("article")

    def download_pdf(self) -> bytes:
        """The PDF to print, as the browser saves it."""
        return _downloaded(self.page, self.link("Download the letter to print (PDF)"))

    def make_a_cover_sheet(self) -> "CoverSheetPage":
        self.ui.follow(self.link("Make a cover sheet"))
        return CoverSheetPage(self.person)


class CoverSheetPage(Screen):
    kind = "cover-sheet"
    heading = re.compile(r"^Print a cover sheet for letter \d+$")

    def make_it(self, address: str) -> bytes:
        """The cover sheet's PDF for `address`: the form's answer, as the browser gets it."""
        self.ui.fill(self.field("Address to post the letter to"), address)
        # Served inline, so Chromium opens it in its PDF viewer (whose page is all a
        # response's body then gives): the bytes are kept as they pass to the browser.
        kept: dict[str, bytes] = {}

        def keep(route) -> None:
            if route.request.method != "POST":
                route.fallback()
                return
            answer = route.fetch()
            kept["pdf"] = answer.body()
            route.fulfill(response=answer)

        self.page.route("**/cover-sheet", keep)
        try:
            with self.page.expect_response(
                lambda response: (
                    response.request.method == "POST" and response.url.endswith("/cover-sheet")
                )
            ) as answered:
                self.button("Make the cover sheet (PDF)").click()
        finally:
            self.page.unroute("**/cover-sheet", keep)
        response = answered.value
        assert response.status == 200, response.status
        assert response.headers["content-type"] == "application/pdf", response.headers
        assert response.headers["cache-control"] == "no-store", response.headers
        return kept["pdf"]


class TimelinePage(Screen):
    kind = "case-timeline"
    heading = re.compile(r"^Timeline of case ")

    def entries(self) -> Locator:
        return self.page.locator("#timeline tbody tr")


def _downloaded(page, target: Locator) -> bytes:
    with page.expect_download() as started:
        target.click()
    download: Download = started.value
    assert download.failure() is None, download.failure()
    with open(download.path(), "rb") as saved:
        return saved.read()
