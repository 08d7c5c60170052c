"""Forms of the accounts pages (CSRF-protected by Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import RadioField
from wtforms import SelectChoice
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import Regexp

# a plausible address; whether it receives mail is not this form's business (and needs no
# extra dependency such as email-validator)
EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an e-mail address.")


class SignUpForm(FlaskForm):
    name = StringField(
        "User name",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username"},
    )
    email = EmailField(
        "E-mail",
        validators=[DataRequired(), EMAIL, Length(max=254)],
        render_kw={"autocomplete": "email"},
    )
    fullname = StringField("Full name", validators=[Optional(), Length(max=200)])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=8, max=200, message="Passwords must have at least 8 characters."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[EqualTo("password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class SignInForm(FlaskForm):
    login = StringField(
        "User name or e-mail", validators=[DataRequired()], render_kw={"autocomplete": "username"}
    )
    password = PasswordField(
        "Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    next = HiddenField()


class ChangePasswordForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(min=8, max=200, message="Passwords must have at least 8 characters."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[EqualTo("password", message="The passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class ActionForm(FlaskForm):
    """A button that changes something: carries only the CSRF token."""


class UserFlagsForm(FlaskForm):
    admin = BooleanField("Admin")
    enabled = BooleanField("Enabled")


class NewUserForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    email = EmailField("E-mail", validators=[Optional(), EMAIL])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=8)])
    admin = BooleanField("Admin")


class SignUpPolicyForm(FlaskForm):
    mode = RadioField(
        "Who may sign up",
        choices=[
            SelectChoice("open", "Anyone"),
            SelectChoice("domains", "Only e-mail addresses in these domains"),
            SelectChoice("closed", "Nobody (invite-only: admins create accounts)"),
            SelectChoice(
                "identity", "Identity provider only (OpenID Connect or LDAP, no passwords)"
            ),
        ],
        validators=[DataRequired()],
    )
    domains = TextAreaField("E-mail domains (comma or one per line)", validators=[Optional()])


class ProfileForm(FlaskForm):
    """The account's full name and e-mail address (the user name is the login: it stays)."""

    fullname = StringField(
        "Full name", validators=[Optional(), Length(max=200)], render_kw={"autocomplete": "name"}
    )
    email = EmailField(
        "E-mail",
        validators=[DataRequired(), EMAIL, Length(max=254)],
        render_kw={"autocomplete": "email"},
    )


class SetPasswordForm(FlaskForm):
    """An admin sets a new password for someone who lost theirs."""

    password = PasswordField(
        "New password",
        validators=[
            DataRequired(),
            Length(min=8, max=200, message="Passwords must have at least 8 characters."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
