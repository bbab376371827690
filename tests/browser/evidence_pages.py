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


class PartySurveyPage(PartyScreen):
    kind = "party-survey"
    heading = "Tell us how it went"

    def answer(self, question: str, answer: str) -> Locator:
        return self.page.get_by_role("group", name=question).get_by_role(
            "radio", name=answer, exact=True
        )


class PartySurveyThanksPage(PartyScreen):
    kind = "party-survey-answered"
    heading = "Thank you for telling us how it went"
