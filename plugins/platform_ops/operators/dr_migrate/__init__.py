"""DR migration operators: copy a Databricks workspace's objects to a secondary workspace, then cut over.

The tasks of ``databricks_dr_migrate``, each reading the run's params (see
:class:`~platform_ops.core.dr_migrate.DrParams`) unless given ``dr_params``:

* :class:`DrPreflightOperator` reads both workspaces, checks that every principal named by a source
  ACL exists in the target, and prints per object type what a run would create, update, leave
  identical, filter, find blocked or in conflict, leave out of scope or lack a secret value for.
  A dry run stops here: the tasks after it write nothing to either workspace.
* :class:`DrMigrateOperator` (``object_type=...``, one task per type) copies one type: a thread pool
  shares the host's adaptive limiter (the hook's), every object is found in the target by its marker
  before any create, a same-name object without marker is a conflict (never adopted), and the ids
  go to the checkpoint shared by every run of the (source, target) pair, flushed every
  ``flush_every`` objects and in ``finally``.
* :class:`DrTeardownOperator` terminates the clusters this run created (``trigger_rule=all_done``)
  unless ``keep_clusters_running``.
* :class:`DrValidateOperator` compares every eligible object's canonical form in both workspaces
  (notebooks and files by their exported bytes), checks that every migrated schedule, continuous
  run and trigger is PAUSED and every cluster the run created is terminated, stores the report in
  the run state, pushes the counts to XCom and fails unless everything is identical or skipped
  with a reason.
* :class:`DrCutoverOperator` (``databricks_dr_cutover``, ``confirm=true``) un-pauses in the target
  exactly the jobs that were un-paused in the source (their statuses are in the checkpoint) and
  optionally pauses them in the source. It is idempotent.

Secret values never leave their configured source (a connection's extra or a Variable holding
``{scope: {key: value}}``) except towards the target's secrets API: they are masked, and never
reach logs, XCom or the run state.

The package holds one concern per module: ``base`` (the shared base operator, the workspace pair,
the thread pool size), ``compare`` (whether a target copy is identical), ``init_scripts`` (DBFS init
scripts relocated as workspace files), ``decide`` (a type's objects in both workspaces, classified),
``preflight``, ``migrate`` (one type's copy), ``permissions`` (the ACL copy), ``teardown``,
``validate`` and ``cutover`` (one operator each), and ``dag`` (the tasks wired in a DAG). Everything
public is importable from here, as before the split.
"""

from __future__ import annotations

from platform_ops.operators.dr_migrate.base import (
    DEPENDS_ON,
    OBJECT_TYPES,
    TERMINATED,
    DrBaseOperator,
    Pair,
    docker_passwords_of,
    pool_threads,
)
from platform_ops.operators.dr_migrate.compare import (
    Comparer,
    same_content,
)
from platform_ops.operators.dr_migrate.cutover import (
    DrCutoverOperator,
)
from platform_ops.operators.dr_migrate.dag import (
    TASK_UPSTREAM,
    build_dr_migration,
)
from platform_ops.operators.dr_migrate.decide import (
    Side,
    decide_side,
    read_side,
)
from platform_ops.operators.dr_migrate.init_scripts import (
    Relocator,
)
from platform_ops.operators.dr_migrate.migrate import (
    DrMigrateOperator,
    Recorder,
    TypeMigration,
)
from platform_ops.operators.dr_migrate.permissions import (
    PERMISSION_TYPES,
    PermissionCopy,
    permission_objects,
)
from platform_ops.operators.dr_migrate.preflight import (
    DrPreflightOperator,
    spec_principals,
)
from platform_ops.operators.dr_migrate.teardown import (
    DrTeardownOperator,
)
from platform_ops.operators.dr_migrate.validate import (
    VALIDATION_STATE,
    DrValidateOperator,
)

__all__ = [
    "DEPENDS_ON",
    "OBJECT_TYPES",
    "PERMISSION_TYPES",
    "TASK_UPSTREAM",
    "TERMINATED",
    "VALIDATION_STATE",
    "Comparer",
    "DrBaseOperator",
    "DrCutoverOperator",
    "DrMigrateOperator",
    "DrPreflightOperator",
    "DrTeardownOperator",
    "DrValidateOperator",
    "Pair",
    "PermissionCopy",
    "Recorder",
    "Relocator",
    "Side",
    "TypeMigration",
    "build_dr_migration",
    "decide_side",
    "docker_passwords_of",
    "permission_objects",
    "pool_threads",
    "read_side",
    "same_content",
    "spec_principals",
]
