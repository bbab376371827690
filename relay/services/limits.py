"""How long each thing a person types may be: defined once, checked by services, shown by forms."""

LETTER_CHARACTERS = 20_000
NOTE_CHARACTERS = 2_000  # a facilitator's note or reason to the writer
CONDITIONS_CHARACTERS = 1_000  # a recipient's conditions for receiving
PASSWORD_CHARACTERS = 200
PASSWORD_MIN_CHARACTERS = 10
REFERENCE_CHARACTERS = 40
NAME_CHARACTERS = 120
DISPLAY_NAME_CHARACTERS = 80
EVIDENCE_CHARACTERS = 500  # the short note behind a gate: "consent form signed, file 12"
SURVEY_COMMENT_CHARACTERS = 2_000  # a party's comment in the survey at closing
