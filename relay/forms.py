"""WTForms forms: validation and error messages in one place."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import DateField
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import SelectMultipleField
from wtforms import StringField
from wtforms import SubmitField
from wtforms import TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf
from wtforms.validators import DataRequired
from wtforms.validators import Email
from wtforms.validators import EqualTo
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from relay.models import CaseOutcome
from relay.models import CaseState
from relay.models import DeclineReason
from relay.models import ExtraCare
from relay.models import NoticePreference
from relay.models import OffenceCategory
from relay.models import ReceivePreference
from relay.models import ReferralSource
from relay.models import ReferralStatus
from relay.models import RiskLevel
from relay.models import SurveyAnswer
from relay.services import limits
from relay.services import survey
from relay.services.errors import DomainError
from relay.services.letters import QueueOrder
from relay.services.letters import QueueShow


def show_error(form: FlaskForm, error: DomainError, fallback: str) -> None:
    """Put a service's refusal next to the field it names (or `fallback`), so the page
    shows it in the error summary and keeps what the person typed."""
    field_name = getattr(error, "field", None)
    name = field_name if field_name in form._fields else fallback
    field = form[name]
    field.errors = [*field.errors, str(error)]


def _choices(*pairs: tuple[str, str]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _required(message: str) -> DataRequired:
    return DataRequired(message=message)


class ActionForm(FlaskForm):
    """A button that changes something: it carries only the CSRF token."""


class SignInForm(FlaskForm):
    email = EmailField("Email address", validators=[_required("Enter your email address")])
    password = PasswordField("Password", validators=[_required("Enter your password")])
    # The page to go back to (checked again before any redirect: relay/web/signed_in.py
    # `return_path`), and the text of a letter whose sending came after the session ended.
    next = HiddenField(validators=[Optional(), Length(max=500)])
    # No length check here: a refusal must not lose the text; the service says what is wrong.
    letter = HiddenField(validators=[Optional()])


class CodeForm(FlaskForm):
    code = StringField(
        "Code",
        description="The 6-digit code from your authenticator app, or one of your backup codes.",
        validators=[_required("Enter the code"), Length(max=20)],
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "Create a password",
        description="At least 10 characters. A few unrelated words are easy to remember "
        "and hard to guess.",
        validators=[_required("Create a password")],
    )
    confirm = PasswordField(
        "Type the password again",
        validators=[
            _required("Type the password again"),
            EqualTo("password", message="The two passwords are not the same"),
        ],
    )


class ResetRequestForm(FlaskForm):
    email = EmailField("Email address", validators=[_required("Enter your email address")])


class ResetForm(NewPasswordForm):
    recovery_code = StringField(
        "Recovery code",
        description="The code you were given when you set up your account. If you have lost "
        "it, leave this empty: you will be able to sign in, but you will not see your letters "
        "until your facilitator restores your access.",
        validators=[Optional()],
    )


class InviteStaffForm(FlaskForm):
    name = StringField(
        "Full name", validators=[_required("Enter their name"), Length(max=limits.NAME_CHARACTERS)]
    )
    email = EmailField(
        "Email address",
        validators=[
            _required("Enter their email address"),
            Email(
                message="Enter an email address in the right format, like name@example.com",
                check_deliverability=False,
            ),
        ],
    )


class CaseForm(FlaskForm):
    reference = StringField(
        "Case reference",
        description="Your service's own reference. Do not use anyone's name.",
        validators=[_required("Enter a case reference"), Length(max=limits.REFERENCE_CHARACTERS)],
    )
    # From the referrals' fixed list, so that cases and referrals are counted by the same
    # kinds (the dashboard); no details of the crime.
    offence_category = RadioField(
        "Kind of offence",
        choices=_choices(*((kind.value, kind.label) for kind in OffenceCategory)),
        validators=[_required("Choose the kind of offence")],
    )


class InvitePartyForm(InviteStaffForm):
    role = RadioField(
        "Who are you inviting?",
        choices=_choices(("victim", "The person harmed"), ("offender", "The person responsible")),
        validators=[_required("Choose who you are inviting")],
    )
    display_name = StringField(
        "Name the other person will see",
        description="For example a first name or 'the person you wrote to'. Never an address.",
        validators=[
            _required("Enter the name the other person will see"),
            Length(max=limits.DISPLAY_NAME_CHARACTERS),
        ],
    )


class PaperPartyForm(FlaskForm):
    """A party who takes part on paper: no e-mail address, no account."""

    role = InvitePartyForm.role
    display_name = InvitePartyForm.display_name


class DeliveredOnPaperForm(FlaskForm):
    how = RadioField(
        "How did the letter reach them?",
        choices=_choices(
            ("posted", "Posted to them"), ("handed_over", "Handed over or read with them")
        ),
        validators=[_required("Choose how the letter reached them")],
    )
    on = DateField(
        "On which day?",
        description="The day it was posted, or the day of the reading.",
        validators=[Optional()],
    )


class RestoreAccessForm(FlaskForm):
    checked = BooleanField(
        "I have checked with this person, by phone or in person, that they asked for this",
        validators=[DataRequired(message="Confirm that you have checked with them")],
    )


class CloseCaseForm(FlaskForm):
    outcome = RadioField(
        "How did the case end?",
        choices=_choices(
            (CaseOutcome.COMPLETED.value, "The exchange was completed"),
            (CaseOutcome.WITHDRAWN_BY_VICTIM.value, "The person harmed withdrew"),
            (CaseOutcome.WITHDRAWN_BY_OFFENDER.value, "The person responsible withdrew"),
            (CaseOutcome.ENDED_BY_FACILITATOR.value, "I ended it"),
        ),
        validators=[_required("Choose how the case ended")],
    )


class LetterForm(FlaskForm):
    text = TextAreaField("Your letter", validators=[Length(max=limits.LETTER_CHARACTERS)])
    save = SubmitField("Save draft")
    send = SubmitField("Send to my facilitator")


class ApproveForm(FlaskForm):
    not_before = DateField(
        "Do not deliver before (optional)",
        description="For example, to avoid an anniversary or a court date.",
        validators=[Optional()],
    )
    # The keys of the flags marked checked (relay/services/flags.py `Flag.key`): the service
    # finds the flags again and compares, so the choices are not listed here.
    checked_flags = SelectMultipleField(
        "Mark each flag once you have checked it", choices=[], validate_choice=False
    )
    confirmed = BooleanField("I have read the whole letter, and it can be passed on")
    scan_checked = BooleanField(
        "I have compared the typed letter with the scan, word for word, and they match"
    )


class QueueForm(FlaskForm):
    """The review queue's filters. Sent by GET: a filtered list is an address to come back
    to, and choosing what to list changes nothing, so there is no token to check."""

    class Meta:
        csrf = False

    show = RadioField(
        "Show",
        choices=_choices(
            (QueueShow.ALL.value, "Every letter waiting for review"),
            (QueueShow.MINE.value, "Letters I am reviewing"),
            (QueueShow.UNCLAIMED.value, "Letters nobody is reviewing"),
            (QueueShow.OVERDUE.value, "Letters waiting longer than the review target"),
            (QueueShow.PAPER.value, "Paper letters, which a second facilitator approves"),
            (
                QueueShow.SECOND_APPROVAL.value,
                "Letters with a first approval, waiting for a second facilitator's",
            ),
        ),
        default=QueueShow.ALL.value,
    )
    case = StringField(
        "Case reference (optional)",
        description="Only this case's letters. Type the reference as it is written.",
        validators=[
            Length(
                max=limits.REFERENCE_CHARACTERS,
                message=f"A case reference is at most {limits.REFERENCE_CHARACTERS} characters",
            )
        ],
    )
    order = RadioField(
        "Order",
        choices=_choices(
            (QueueOrder.OLDEST.value, "Oldest first"), (QueueOrder.NEWEST.value, "Newest first")
        ),
        default=QueueOrder.OLDEST.value,
    )

    def settle(self) -> None:
        """Check what was chosen. A choice in the address that the form does not offer (an
        old link, or typed) reads as the default rather than as an error: only a reference
        too long to be one is said to be wrong."""
        self.validate()
        for field in (self.show, self.order):
            if field.errors:
                field.data = field.default
                field.errors = []


class AddFacilitatorForm(FlaskForm):
    email = EmailField(
        "E-mail address of another facilitator",
        validators=[_required("Enter the facilitator's e-mail address")],
    )


class ChangesForm(FlaskForm):
    note = TextAreaField(
        "What should the writer change?",
        validators=[
            _required("Tell the writer what to change"),
            Length(max=limits.NOTE_CHARACTERS),
        ],
    )


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Why can this letter not be passed on?",
        description="The writer will see this.",
        validators=[_required("Give the writer a reason"), Length(max=limits.NOTE_CHARACTERS)],
    )


class RedactionForm(FlaskForm):
    text = TextAreaField(
        "The letter with your changes",
        validators=[_required("Enter the changed letter"), Length(max=limits.LETTER_CHARACTERS)],
    )
    note = TextAreaField(
        "A note to the writer about the changes (optional)",
        validators=[Length(max=limits.NOTE_CHARACTERS)],
    )


class ReceivingForm(FlaskForm):
    preference = RadioField(
        "When would you like to receive letters?",
        choices=_choices(
            (ReceivePreference.RECEIVE.value, "Send them to me here when they are approved"),
            (ReceivePreference.WITH_FACILITATOR.value, "Only with my facilitator"),
            (ReceivePreference.NOT_NOW.value, "Not now"),
        ),
        validators=[_required("Choose when you would like to receive letters")],
    )
    tell_author = BooleanField("Tell the writer when I have read their letter")
    conditions = TextAreaField(
        "Conditions for letters to you (optional)",
        description="For example: do not use my first name. The writer sees these as guidance.",
        validators=[Length(max=limits.CONDITIONS_CHARACTERS)],
    )


class ReceivingChoiceForm(FlaskForm):
    """Only the choice of when to receive, where something is waiting (the case page)."""

    preference = ReceivingForm.preference


class NoticesForm(FlaskForm):
    notices = RadioField(
        "E-mails about new things in your account",
        choices=_choices(
            (NoticePreference.STANDARD.value, "Send me an e-mail"),
            (NoticePreference.DISCREET.value, "Send me an e-mail with a discreet subject line"),
            (NoticePreference.NONE.value, "Do not e-mail me"),
        ),
        validators=[_required("Choose how you would like to hear from us")],
    )


AUDIT_FILE_LIMIT = 5 * 1024 * 1024


class CheckpointsFileForm(FlaskForm):
    """An audit export kept off the server, to check the database's chain against."""

    export = FileField(
        "Exported audit file",
        description='A file kept away from this server: the one "audit export" writes, or the '
        'smaller one "audit export --checkpoints-only" writes. Up to 5 MB.',
        validators=[FileRequired("Choose the exported file")],
    )
    contents = b""

    def validate_export(self, field: FileField) -> None:
        # A bounded read: never more than the limit in memory, however large the upload.
        data = field.data.stream.read(AUDIT_FILE_LIMIT + 1)
        if len(data) > AUDIT_FILE_LIMIT:
            raise ValidationError("The file must be smaller than 5 MB")
        if not data:
            raise ValidationError("The selected file is empty")
        self.contents = data


class HandOverForm(FlaskForm):
    """One open case of a facilitator who is leaving: who takes it over. The choices are
    the facilitators who stay (set by the page), or nobody when another is already on it."""

    to = SelectField("Hand the case to", choices=[], validators=[Optional()])


class CloseAccountForm(FlaskForm):
    confirmed = BooleanField(
        "I understand that they will not be able to sign in again, and that every key they "
        "hold is taken away",
        validators=[DataRequired(message="Confirm that you want to close this account")],
    )


# --- case records (issue 9, item 5) ---------------------------------------------------------


class DayField(DateField):
    """A date typed as YYYY-MM-DD (a date picker fills it in where there is one), with a
    message in words when it is not a real date."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a real date, for example 2027-03-31") from None


class ReferralForm(FlaskForm):
    """A referral as it came: no names and no free text (relay/services/referrals.py)."""

    received_on = DayField(
        "The day the referral came",
        description="For example 2026-11-27.",
        # Not DataRequired, which would hide "Enter a real date" behind "Enter the day".
        validators=[InputRequired(message="Enter the day the referral came")],
    )
    source = RadioField(
        "Where did the referral come from?",
        choices=_choices(*((source.value, source.label) for source in ReferralSource)),
        validators=[_required("Choose where the referral came from")],
    )
    offence_category = RadioField(
        "Kind of offence",
        choices=_choices(*((kind.value, kind.label) for kind in OffenceCategory)),
        validators=[_required("Choose the kind of offence")],
    )


class ReferralOutcomeForm(FlaskForm):
    """Whether the person harmed was offered restorative justice, and what they said."""

    status = RadioField(
        "What happened?",
        choices=_choices(
            (ReferralStatus.REFERRED.value, "Not offered yet"),
            (ReferralStatus.OFFERED.value, "Offered: waiting for their answer"),
            (ReferralStatus.DECLINED.value, "They declined"),
            (ReferralStatus.NOT_CONTACTED.value, "They could not be contacted"),
        ),
        validators=[_required("Choose what happened")],
    )
    decline_reason = RadioField(
        "If they declined, why?",
        choices=_choices(*((reason.value, reason.label) for reason in DeclineReason)),
        validate_choice=False,  # the service says when a reason is needed and which
        validators=[Optional()],
    )


class ReferralListForm(FlaskForm):
    """The referrals narrowed by status: read from the address, no token."""

    class Meta:
        csrf = False

    status = SelectField(
        "Status",
        choices=_choices(("", "Any status"), *((s.value, s.label) for s in ReferralStatus)),
        validate_choice=False,  # the service says what it accepts
        validators=[Optional()],
    )


class ReferralCaseForm(FlaskForm):
    """The case a referral becomes: its reference (the kind of offence comes with it)."""

    reference = CaseForm.reference


class PaperScanForm(FlaskForm):
    """A letter that came on paper, step one: who wrote it, when it came, and its scan."""

    author = RadioField(
        "Who wrote this letter?",
        choices=_choices(("victim", "The person harmed"), ("offender", "The person responsible")),
        validators=[_required("Choose who wrote the letter")],
    )
    received_on = DayField(
        "The day the letter came",
        description="By post, or handed to you. For example 2026-11-27.",
        validators=[_required("Enter the day the letter came")],
    )
    envelope_dated = DayField(
        "The date on the envelope (optional)",
        description="The postmark, or a date the writer put on the envelope or letter.",
        validators=[Optional()],
    )
    scan = FileField(
        "The scan of the letter",
        description="A PDF, JPEG or PNG of every page, up to 10 MB and 20 pages. A photo "
        "taken with a phone is fine if every word can be read.",
        validators=[FileRequired("Choose the scan of the letter")],
    )


class PaperLetterForm(FlaskForm):
    """Step two: the letter typed in, beside its scan."""

    text = TextAreaField(
        "The letter, as written",
        description="Relay's first reading of the scan is filled in. It is only a draft: "
        "correct every word against the scan.",
        validators=[_required("Type the letter"), Length(max=limits.LETTER_CHARACTERS)],
    )


class CorrectTranscriptForm(FlaskForm):
    """A paper letter typed again where its typing does not match the scan."""

    text = TextAreaField(
        "The letter, typed again from the scan",
        description="Correct the typing so it matches the scan word for word. You become "
        "its typist, so another facilitator checks it before it is approved.",
        validators=[_required("Type the letter"), Length(max=limits.LETTER_CHARACTERS)],
    )


class GateEvidenceForm(FlaskForm):
    """Used with a prefix per gate, so each gate's box has its own id on the case page."""

    evidence = TextAreaField(
        "Evidence",
        description="What you saw or checked, and where it is filed. For example: consent "
        "form signed, scanned to file 12. Only the case's staff see this.",
        validators=[
            _required("Enter the evidence for this step"),
            Length(max=limits.EVIDENCE_CHARACTERS),
        ],
    )


class RiskAssessmentForm(FlaskForm):
    """One person's assessment; used with a prefix per person."""

    level = RadioField(
        "Level of risk",
        choices=_choices(*((level.value, level.label) for level in RiskLevel)),
        validators=[_required("Choose the level of risk")],
    )
    categories = SelectMultipleField(
        "Extra care needed for",
        description="Choose any that apply. Any one means every letter in the case needs a "
        "second facilitator's approval.",
        choices=_choices(*((care.value, care.label) for care in ExtraCare)),
        validate_choice=False,  # the service says what it accepts
        validators=[Optional()],
    )
    review_on = DayField(
        "Review date",
        description="When to look at this assessment again. For example 2027-03-31.",
        validators=[Optional()],
    )
    evidence = TextAreaField(
        "Evidence",
        description="For example: risk form RA-3, on file. Only the case's staff see this.",
        validators=[
            _required("Enter the evidence for this assessment"),
            Length(max=limits.EVIDENCE_CHARACTERS),
        ],
    )


class CaseNoteForm(FlaskForm):
    text = TextAreaField(
        "Add a case note",
        description="For the case's facilitators only, never the people in the case.",
        validators=[_required("Enter the note"), Length(max=limits.NOTE_CHARACTERS)],
    )


class PauseReasonForm(FlaskForm):
    reason = TextAreaField(
        "Why the exchange is paused",
        description="Both people see this, in their own account. Keep it short and kind.",
        validators=[
            _required("Enter why you are pausing the exchange"),
            Length(max=limits.NOTE_CHARACTERS),
        ],
    )


class TimelineFilterForm(FlaskForm):
    """An administrator's filter of a case's timeline: read from the address, no token."""

    class Meta:
        csrf = False

    person = SelectField("Person", choices=[], validators=[Optional()])
    start = DayField("From", validators=[Optional()])
    end = DayField("To", validators=[Optional()])


class CaseListForm(FlaskForm):
    """The staff's case list, found by reference and narrowed by state: read from the
    address, no token."""

    class Meta:
        csrf = False

    reference = StringField(
        "Search by reference",
        description="All or part of it, for example 2026-01.",
        validators=[Optional(), Length(max=limits.REFERENCE_CHARACTERS)],
    )
    state = SelectField(
        "State",
        choices=_choices(("", "Any state"), *((state.value, state.label) for state in CaseState)),
        validate_choice=False,  # the service says what it accepts
        validators=[Optional()],
    )


class CoverSheetForm(FlaskForm):
    """The address on a cover sheet: typed each time, never kept (relay/services/post.py
    checks its length and lines)."""

    addressee = TextAreaField(
        "Address to post the letter to",
        description=(
            "As on an envelope, one line for each line. For someone in prison: their name, "
            "prison number and the prison's address."
        ),
        validators=[_required("Enter the address to post the letter to")],
    )


class PaperCodeForm(FlaskForm):
    """The "I have a code" page: the one-time code a facilitator printed for a party on paper."""

    code = StringField(
        "Your code",
        description="It is on the paper from your facilitator, for example ABCD-EFGH-JKMN-"
        "PQRS-TVWX. Small or capital letters, with or without the dashes.",
        validators=[_required("Enter the code"), Length(max=60)],
    )


class CodeAccountForm(NewPasswordForm):
    """Setting up an account with a printed code: the code rides along from the first
    step (never in the address), and the person chooses the address they sign in with."""

    code = HiddenField(validators=[_required("Enter the code"), Length(max=60)])
    email = EmailField(
        "Email address",
        description="You sign in with it. Relay only ever sends it a short notice, never "
        "the words of a letter.",
        validators=[_required("Enter your email address"), Length(max=254)],
    )


class PartyForm(FlaskForm):
    """A button on the case page that acts on one of its parties, named in the form."""

    participant = HiddenField(validators=[_required("Choose the person")])


class PaperSwitchForm(PartyForm):
    to = HiddenField(validators=[AnyOf(("paper", "relay"))])


# "Prefer not to say" is a choice of its own, not only no choice: a radio once clicked
# cannot be cleared, so a person who changes their mind about answering can still leave
# the question blank. Sent with no choice at all, a question is left blank too.
SURVEY_CHOICES = _choices(
    *((answer.value, answer.label) for answer in SurveyAnswer), ("", "Prefer not to say")
)


_SURVEY_COMMENT_LENGTH = Length(
    max=limits.SURVEY_COMMENT_CHARACTERS,
    message=f"The comment must be {limits.SURVEY_COMMENT_CHARACTERS:,} characters or fewer",
)


def _survey_question(question: survey.Question) -> RadioField:
    # The service says what it accepts, next to the question (survey._answers).
    return RadioField(
        question.words, choices=SURVEY_CHOICES, validate_choice=False, validators=[Optional()]
    )


class SurveyForm(FlaskForm):
    """The survey at closing, as a party answers it: every question may be left blank."""

    satisfied = _survey_question(survey.QUESTIONS[0])
    felt_safe = _survey_question(survey.QUESTIONS[1])
    felt_heard = _survey_question(survey.QUESTIONS[2])
    would_recommend = _survey_question(survey.QUESTIONS[3])
    comment = TextAreaField(
        f"{survey.COMMENT_WORDS} (optional)",
        description="Only the people running your case will read this.",
        validators=[_SURVEY_COMMENT_LENGTH],
    )

    def answers(self) -> dict[str, str | None]:
        """The answers and comment as the services take them."""
        given = {question.name: self[question.name].data for question in survey.QUESTIONS}
        return {**given, "comment": self.comment.data}


class PaperSurveyForm(SurveyForm):
    """The printed survey form, entered by a facilitator as the person filled it in."""

    comment = TextAreaField(
        "Their comment, as written on the form (optional)",
        description="Only the case's facilitators read it, and the person if they have an "
        "account. Never the other person.",
        validators=[_SURVEY_COMMENT_LENGTH],
    )


class DashboardFilterForm(FlaskForm):
    """The dashboard's range of days and kind of offence: read from the address (and the
    export's form, whose token is its own), no token."""

    class Meta:
        csrf = False

    start = DayField("From", description="For example 2026-01-01.", validators=[Optional()])
    end = DayField("To", description="For example 2026-12-31.", validators=[Optional()])
    offence = SelectField(
        "Kind of offence",
        choices=_choices(
            ("", "Any kind of offence"), *((kind.value, kind.label) for kind in OffenceCategory)
        ),
        validate_choice=False,  # the service says what it accepts
        validators=[Optional()],
    )
