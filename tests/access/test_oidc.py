import http.server
import json
import threading
from typing import ClassVar

import pytest

from recovery_model.access import (
    NO_ROLE,
    AccessConfigError,
    RoleClaim,
    check_provider_settings,
    issued_at,
    login_key,
    pages_for,
    provider_metadata,
    user_from_claims,
)

SETTINGS = {"redirect_uri": "https://recovery.example.org/oauth2callback", "cookie_secret": "x" * 40,
            "client_id": "recovery", "client_secret": "s",
            "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}


def test_complete_settings_give_the_metadata_url():
    assert check_provider_settings(SETTINGS) == SETTINGS["server_metadata_url"]


@pytest.mark.parametrize("missing", list(SETTINGS))
def test_each_missing_setting_is_named(missing):
    with pytest.raises(AccessConfigError, match=rf"\[auth\] needs {missing}"):
        check_provider_settings({**SETTINGS, missing: ""})


def test_roles_from_a_list_claim_mapped_and_unknown_values_ignored():
    claim = RoleClaim.from_secrets({"claim": "groups", "map": {"ward-staff": "bed_manager"}})
    user = user_from_claims({"sub": "u1", "name": "Ward Nurse", "groups": ["ward-staff", "clinician", "payroll"]},
                            claim)
    assert (user.name, user.role, user.subject) == ("Ward Nurse", "bed_manager+clinician", "u1")
    assert pages_for(user.role) == {"patient", "ward"}


def test_a_nested_claim_as_keycloak_writes_it():
    claim = RoleClaim.from_secrets({"claim": "realm_access.roles"})
    assert claim.roles({"realm_access": {"roles": ["analyst", "offline_access"]}}) == {"analyst"}


def test_no_claim_or_no_known_value_means_no_role():
    claim = RoleClaim()
    assert user_from_claims({"sub": "u2", "email": "a@b.org"}, claim).role == NO_ROLE
    assert user_from_claims({"sub": "u2", "roles": ["visitor"]}, claim).role == NO_ROLE
    assert pages_for(NO_ROLE) == frozenset()


@pytest.mark.parametrize("value", ["clinician", 3, ["clinician", 4], {"clinician": True}])
def test_a_claim_that_is_not_a_list_of_strings_names_the_setting(value):
    with pytest.raises(AccessConfigError, match=r"'roles' claim .* not a list of strings: set \[recovery_roles\]"):
        RoleClaim().roles({"roles": value})


def test_the_name_shown_falls_back_from_name_to_username_email_and_subject():
    claim = RoleClaim()
    assert user_from_claims({"sub": "s", "preferred_username": "jdoe", "email": "j@x"}, claim).name == "jdoe"
    assert user_from_claims({"sub": "s"}, claim).name == "s"


def test_a_login_key_is_kept_across_reloads_and_new_at_the_next_sign_in():
    first = {"iss": "https://idp", "sub": "s", "iat": 100, "nonce": "a", "exp": 200}
    assert login_key(first) == login_key(dict(first, exp=999))
    assert login_key(first) != login_key(dict(first, nonce="b"))
    assert login_key({"sub": "a|b", "iat": 1}) != login_key({"sub": "a", "iat": "b|1"})  # no joins to confuse


def test_a_sign_in_without_an_issued_at_cannot_be_timed_out_and_is_refused():
    assert issued_at({"iat": 1_700_000_000}) == 1_700_000_000
    with pytest.raises(AccessConfigError, match="no 'iat'"):
        issued_at({"sub": "s"})


def test_an_app_under_a_base_path_has_its_callback_there():
    assert check_provider_settings({**SETTINGS, "redirect_uri": "https://h.org/recovery/oauth2callback"})


class _Provider(http.server.BaseHTTPRequestHandler):
    answers: ClassVar = {"/good": (200, json.dumps({"issuer": "http://idp", "authorization_endpoint": "http://idp/a"})),
               "/html": (200, "<html>sign in</html>"), "/other": (200, json.dumps({"issuer": "x"})),
               "/missing": (404, "not found")}

    def do_GET(self):
        status, body = self.answers[self.path]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def idp():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_metadata_is_read_from_a_real_server(idp):
    assert provider_metadata(f"{idp}/good")["issuer"] == "http://idp"


@pytest.mark.parametrize(("path", "says"), [("/html", "not a JSON OpenID configuration"),
                                            ("/other", "no authorization_endpoint"), ("/missing", "HTTP 404")])
def test_a_bad_metadata_answer_is_named(idp, path, says):
    with pytest.raises(AccessConfigError, match="server_metadata_url") as error:
        provider_metadata(f"{idp}{path}")
    assert says in str(error.value)


def test_an_unreachable_provider_is_named():
    with pytest.raises(AccessConfigError, match=r"server_metadata_url \(http://127.0.0.1:9/x\) cannot be used"):
        provider_metadata("http://127.0.0.1:9/x", timeout=2)
