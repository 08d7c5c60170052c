"""Forms of the project pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import IntegerField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from labelhive.tasks.rules import MAX_N_ANSWERS

ORDERING_CHOICES = [
    SelectChoice("depth_first", "Depth first: finish the tasks closest to done"),
    SelectChoice("breadth_first", "Breadth first: spread answers over all tasks"),
    SelectChoice("random", "Random"),
]


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    short_name = StringField(
        "Short name (used in URLs)", validators=[DataRequired(), Length(max=63)]
    )
    description = StringField("Description", validators=[Optional(), Length(max=255)])
    question = StringField("Question", validators=[DataRequired(), Length(max=1000)])
    answers = TextAreaField("Answer options, one per line", validators=[DataRequired()])
    default_n_answers = IntegerField(
        "Redundancy (answers per task)",
        default=3,
        validators=[DataRequired(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )
    lease_ttl = IntegerField(
        "Lease time (seconds an annotator holds a task)",
        default=600,
        validators=[DataRequired(), NumberRange(min=10, max=86400)],
    )
    ordering = SelectField("Order tasks are handed out in", choices=ORDERING_CHOICES)
    instructions = TextAreaField("Instructions (Markdown)", validators=[Optional()])

    def answer_options(self) -> list[str]:
        return [line.strip() for line in (self.answers.data or "").splitlines() if line.strip()]


class RedundancyForm(FlaskForm):
    n_answers = IntegerField(
        "Answers per task, for all tasks",
        validators=[DataRequired(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )


class ImportForm(FlaskForm):
    file = FileField("CSV, JSON or JSONL file", validators=[FileRequired()])


class ActionForm(FlaskForm):
    """A button that changes something: carries only the CSRF token."""
