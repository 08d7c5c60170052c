"""Project settings: one schema for the API, the CLI and the project form."""

from __future__ import annotations

import pytest
from wtforms.validators import NumberRange

from labelhive.extensions import db
from labelhive.projects import schemas
from labelhive.projects import services
from labelhive.projects.forms import ProjectForm
from labelhive.projects.models import Project
from labelhive.projects.services import ProjectError
from labelhive.projects.services import apply_settings

WRONG = {
    "name": 3,
    "short_name": "Not A Slug",
    "description": 1,
    "long_description": [],
    "info": [],
    "default_n_answers": 0,
    "lease_ttl": 5,
    "ordering": "sideways",
    "gold_rate": 1.5,
    "consensus_method": "coin_flip",
    "adaptive_threshold": 0,
    "adaptive_max_answers": "many",
    "review_threshold": 1.5,
    **{flag: "yes" for flag in schemas._FLAGS},
}


def test_every_checked_setting_refuses_a_wrong_value_with_a_sentence_naming_it():
    # webhook and category_id are taken as they come (checked by their own endpoints)
    assert set(WRONG) | {"webhook", "category_id"} == set(schemas.SETTINGS)
    for key, value in WRONG.items():
        with pytest.raises(ProjectError) as refusal:
            schemas.check({key: value})
        label = "redundancy" if key == "default_n_answers" else key.split("_")[0]
        assert label in str(refusal.value), key


def test_a_refused_batch_leaves_the_project_as_it_was(app):
    project = Project(name="Pets", short_name="pets", owner_id=1, lease_ttl=600)
    with pytest.raises(ProjectError, match="lease_ttl"):
        apply_settings(project, {"name": "Cats", "lease_ttl": 5})
    assert (project.name, project.lease_ttl) == ("Pets", 600)
    apply_settings(project, {"name": "Cats", "lease_ttl": 60, "ordering": "random"})
    assert (project.name, project.lease_ttl, project.ordering) == ("Cats", 60, "random")
    with pytest.raises(ProjectError, match="not a project setting"):
        apply_settings(project, {"owner_id": 2})
    with pytest.raises(ProjectError, match="at least the redundancy"):
        apply_settings(
            project,
            {"adaptive_redundancy": True, "default_n_answers": 4, "adaptive_max_answers": 3},
        )
    assert project.adaptive_redundancy is not True
    db.session.rollback()


def test_the_form_takes_its_bounds_from_the_schema(app):
    with app.test_request_context():
        form = ProjectForm(meta={"csrf": False})
    (lease_range,) = [v for v in form.lease_ttl.validators if isinstance(v, NumberRange)]
    assert (lease_range.min, lease_range.max) == schemas.LEASE_TTL_RANGE
    assert [c.value for c in form.consensus_method.choices] == list(schemas.CONSENSUS_METHODS)
    assert services.SETTABLE == frozenset(schemas.SETTINGS)
