"""Every key this app keeps in `st.session_state`, named once (the widgets' own keys stay beside them)."""

from enum import StrEnum


class Key(StrEnum):
    AUDITED_UPLOADS = "audited_uploads"  # the uploads already audited this session
    ESTIMATED_AT = "estimated_at"  # when the shown estimate was made
    FHIR_RECORD = "fhir_record"  # the FHIR record loaded into the form (name, values)
    FORM_FILLED_FROM = "form_filled_from"  # where the form's values came from
    FORM_NOTES = "form_notes"  # what the record left blank, by feature
    FORM_ROUND = "form_round"  # counts form fillings: the widgets' keys change with it
    FORM_START = "form_start"  # the values the form was filled with
    LOGGED_VERSION = "logged_version"  # the estimate already logged
    LOGGED_WHAT_IF = "logged_what_if"  # the what-if already logged
    LOGIN_KEY = "login_key"  # the OIDC sign-in this session started
    OPENED_PREDICTION = "opened_prediction"  # a logged prediction opened from a card's link
    OPTIONS = "options"  # the suggestions computed for the estimate
    OPTIONS_FOR = "options_for"  # the estimate the suggestions belong to
    PATIENT = "patient"  # the values estimated on the Patient page
    PATIENT_ID = "patient_id"  # the patient those values are about
    PATIENT_VERSION = "patient_version"  # counts the estimates: a result belongs to one
    SIGNED_OUT_ELSEWHERE = "signed_out_elsewhere"  # signed out in another tab
    TIMED_OUT = "timed_out"  # the session timed out (signed out)
    TIMED_OUT_MESSAGE = "timed_out_message"  # what the sign-in page says after a time-out
    USER = "user"  # the signed-in user (`User`)
    WARD_SCORED = "ward_scored"  # the scored ward list (file digest, result)
    WHAT_IF_ROUND = "what_if_round"  # counts what-if starts: the widgets' keys change with it
    WHAT_IF_START = "what_if_start"  # the values a what-if starts from
