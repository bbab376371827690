"""The pages of issue 11 as a person meets them: referrals, the closing survey and the
dashboard (the rest are in pages.py and paper_pages.py)."""

import re

from playwright.sync_api import Locator

from tests.browser.pages import PartyScreen
from tests.browser.pages import Screen


class ReferralsPage(Screen):
    kind = "referrals"
    heading = "Referrals"


class NewReferralPage(Screen):
    kind = "referral-new"
    heading = "Record a referral"


class ReferralPage(Screen):
    kind = "referral"
    heading = re.compile(r"^Referral of ")


class ReferralCasePage(Screen):
    kind = "referral-case"
    heading = re.compile(r"^Open a case for the referral of ")


class _Answering:
    """A page with the survey's questions: the party's own, or the printed form's entry."""

    def answer(self, question: str, answer: str) -> None:
        group = self.page.get_by_role("group", name=question)
        self.ui.choose(group.get_by_label(answer, exact=True))


class PartySurveyPage(_Answering, PartyScreen):
    kind = "party-survey"
    heading = "Tell us how it went"


class PartySurveyThanksPage(PartyScreen):
    kind = "party-survey-answered"
    heading = "Thank you for telling us how it went"


class SurveyFormToPrint(Screen):
    kind = "survey-print"
    heading = "How did it go?"


class EnterSurveyPage(_Answering, Screen):
    kind = "survey-enter"
    heading = "Enter the answers from a printed form"


class DashboardPage(Screen):
    kind = "dashboard"
    heading = "Dashboard"
    address = re.compile(r"/dashboard/")

    def chart(self, title: str) -> Locator:
        return self.page.get_by_role("img", name=title, exact=True)

    def cell(self, key: str) -> Locator:
        """A figure in its table (the chart beside it draws the same number)."""
        return self.page.locator(f'[data-cell="{key}"]').first
