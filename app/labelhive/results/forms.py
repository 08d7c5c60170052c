"""Forms of the results page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FloatField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import NumberRange
from wtforms.validators import Optional

from labelhive.consensus.labels import DEFAULT_VALIDATION_FRACTION
from labelhive.exports import dataset
from labelhive.exports import exports

# "<what>.<fmt>": the file exports (tasks, answers, results) and the labeled dataset
EXPORT_CHOICES = [f"{what}.{fmt}" for what in exports.WHATS for fmt in exports.FORMATS] + [
    f"dataset.{fmt}" for fmt in dataset.FORMATS
]


class ExportForm(FlaskForm):
    """Build an export file in the background, then download it from the job page."""

    file = SelectField("File", choices=EXPORT_CHOICES)
    validation = FloatField(
        "Validation share (dataset only)",
        default=DEFAULT_VALIDATION_FRACTION,
        validators=[Optional(), NumberRange(min=0, max=1)],
    )


class ImageFolderForm(FlaskForm):
    """Copy the labeled S3 images into ``<prefix>/<label>/<key>`` (exports.imagefolder)."""

    destination = StringField(
        "Destination (s3://bucket/prefix/, or a prefix in the configured bucket)",
        validators=[DataRequired(), Length(max=600)],
    )
    validation = FloatField(
        "Validation share",
        default=DEFAULT_VALIDATION_FRACTION,
        validators=[Optional(), NumberRange(min=0, max=1)],
    )
