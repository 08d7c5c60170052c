"""Every model, imported in one place for Alembic and the engine."""

from __future__ import annotations

from labelhive.accounts.identity.models import UsedSignInValue as UsedSignInValue
from labelhive.accounts.identity.models import UserIdentity as UserIdentity
from labelhive.accounts.models import User as User
from labelhive.answers.models import Answer as Answer
from labelhive.consensus.models import AnnotatorQuality as AnnotatorQuality
from labelhive.consensus.models import Consensus as Consensus
from labelhive.consensus.models import ConsensusRun as ConsensusRun
from labelhive.consensus.models import Result as Result
from labelhive.helping.models import Category as Category
from labelhive.helping.models import HelpingChunk as HelpingChunk
from labelhive.helping.models import HelpingMaterial as HelpingMaterial
from labelhive.jobs.models import ExportChunk as ExportChunk
from labelhive.jobs.models import ExportFile as ExportFile
from labelhive.jobs.models import JobRecord as JobRecord
from labelhive.projects.models import Project as Project
from labelhive.reports.models import TaskReport as TaskReport
from labelhive.review.models import ProjectReviewer as ProjectReviewer
from labelhive.settings.models import Setting as Setting
from labelhive.tasks.models import Lease as Lease
from labelhive.tasks.models import Skip as Skip
from labelhive.tasks.models import Task as Task
