"""Forms of the project pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from flask_wtf.file import FileRequired
from wtforms import BooleanField
from wtforms import FloatField
from wtforms import IntegerField
from wtforms import SelectChoice
from wtforms import SelectField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from labelhive.projects.schemas import LEASE_TTL_RANGE
from labelhive.tasks.rules import MAX_N_ANSWERS

ORDERING_CHOICES = [
    SelectChoice("depth_first", "Depth first: finish the tasks closest to done"),
    SelectChoice("breadth_first", "Breadth first: spread answers over all tasks"),
    SelectChoice("random", "Random"),
]

CONSENSUS_CHOICES = [
    SelectChoice("dawid_skene", "Dawid–Skene: weighs annotators by their estimated confusions"),
    SelectChoice("majority_vote", "Majority vote: the most common answer"),
    SelectChoice(
        "gold_weighted", "Gold-weighted vote: annotators weighted by their accuracy on gold tasks"
    ),
]


def _share(form: FlaskForm, field: FloatField) -> None:
    """A share above 0 and at most 1 (an agreement threshold)."""
    if field.data is not None and not 0 < field.data <= 1:
        raise ValidationError("Enter a number above 0 and at most 1, e.g. 0.7 for 70%.")


class ProjectForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    # empty: derived from the name (labelhive.projects.shortname), as the form's script shows
    short_name = StringField("Short name (used in URLs)", validators=[Optional(), Length(max=63)])
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
        validators=[DataRequired(), NumberRange(*LEASE_TTL_RANGE)],
    )
    ordering = SelectField("Order tasks are handed out in", choices=ORDERING_CHOICES)
    instructions = TextAreaField("Instructions (Markdown)", validators=[Optional()])
    # gold tasks and consensus (labelhive.results)
    gold_rate = FloatField(
        "Gold rate (share of handed-out tasks that are gold, 0 to 1)",
        default=0.0,
        validators=[Optional(), NumberRange(min=0, max=1)],
    )
    consensus_method = SelectField(
        "Consensus label of the dataset", choices=CONSENSUS_CHOICES, default="dawid_skene"
    )
    consensus_use_gold = BooleanField("Anchor Dawid–Skene on the gold answers", default=True)
    adaptive_redundancy = BooleanField(
        "Adaptive redundancy: ask one more annotator on disagreement"
    )
    adaptive_threshold = FloatField(
        "Agreement threshold (share of answers that must agree)",
        default=0.7,
        validators=[Optional(), _share],
    )
    adaptive_max_answers = IntegerField(
        "Most answers a task may get (cap)",
        default=5,
        validators=[Optional(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )
    # review (labelhive.review): 0 flags only ties and gold items most annotators missed
    review_threshold = FloatField(
        "Review below this confidence",
        default=0.6,
        validators=[Optional(), NumberRange(min=0, max=1)],
    )
    # PYBOSSA's custom task presenter (labelhive.tasks.presenter)
    use_task_presenter = BooleanField("Use the custom task presenter below")
    task_presenter = TextAreaField("Task presenter (HTML)", validators=[Optional()])

    def answer_options(self) -> list[str]:
        return [line.strip() for line in (self.answers.data or "").splitlines() if line.strip()]

    def validate_adaptive_max_answers(self, field: IntegerField) -> None:
        if not self.adaptive_redundancy.data or field.data is None:
            return
        redundancy = self.default_n_answers.data
        if isinstance(redundancy, int) and field.data < redundancy:
            raise ValidationError(
                f"The cap must be at least the redundancy ({redundancy}): it is the most "
                "answers a task may get."
            )

    def validate_use_task_presenter(self, field: BooleanField) -> None:
        if field.data and not (self.task_presenter.data or "").strip():
            raise ValidationError("Paste the presenter's HTML below first.")


class RedundancyForm(FlaskForm):
    n_answers = IntegerField(
        "Answers per task, for all tasks",
        validators=[DataRequired(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )


class ImportForm(FlaskForm):
    file = FileField("CSV, JSON or JSONL file", validators=[FileRequired()])


class ActionForm(FlaskForm):
    """A button that changes something: carries only the CSRF token."""


class S3ImportForm(FlaskForm):
    """Import every object under an S3 prefix (a background job)."""

    bucket = StringField("Bucket", validators=[DataRequired(), Length(min=3, max=63)])
    prefix = StringField("Prefix (folder), e.g. photos/2024/", validators=[Length(max=1024)])
    extensions = StringField(
        "Extensions to import (comma-separated; empty for every object)",
        default="jpg,jpeg,png,gif,webp,avif",
        validators=[Length(max=200)],
    )
    n_answers = IntegerField(
        "Answers per task (empty: the project's redundancy)",
        validators=[Optional(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )


class TaskForm(FlaskForm):
    """A task's priority and redundancy on the owner's task list."""

    priority = FloatField(
        "Priority",
        validators=[
            InputRequired(message="Enter a priority, e.g. 0 or 1."),
            NumberRange(min=-1e9, max=1e9),
        ],
    )
    n_answers = IntegerField(
        "Answers needed",
        validators=[DataRequired(), NumberRange(min=1, max=MAX_N_ANSWERS)],
    )


class DeleteProjectForm(FlaskForm):
    """Deleting a project: the owner types its short name to confirm."""

    confirm = StringField("Type the project's short name to confirm", validators=[DataRequired()])
