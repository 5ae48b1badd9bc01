"""What the case page shows, gathered once for the normal view and for break-glass reading."""

from __future__ import annotations

from datetime import date
from typing import Any

from caseapp.cases import queries
from caseapp.cases.models import Case
from caseapp.cases.validation import display_phone
from caseapp.followups import queries as followup_queries
from caseapp.followups.models import KIND_LABELS as FOLLOW_UP_KIND_LABELS
from caseapp.followups.models import OUTCOME_LABELS as FOLLOW_UP_OUTCOME_LABELS
from caseapp.followups.models import STATUS_LABELS as FOLLOW_UP_STATUS_LABELS
from caseapp.workflow import services as workflow_services

FOLLOW_UP_LABELS = {
    "follow_up_kind_labels": FOLLOW_UP_KIND_LABELS,
    "follow_up_status_labels": FOLLOW_UP_STATUS_LABELS,
    "follow_up_outcome_labels": FOLLOW_UP_OUTCOME_LABELS,
}


def page_context(case: Case, *, today: date, officer_tools: bool) -> dict[str, Any]:
    """The template variables of ``cases/detail.html`` (the officer's tools only if asked)."""
    steps = workflow_services.load_steps(case)
    return {
        "case": case,
        "today": today,
        "timeline": queries.timeline(case),
        "viewers": queries.viewers(case) if officer_tools else [],
        "duplicate": queries.has_open_duplicate(case),
        "officer_tools": officer_tools,
        "display_phone": display_phone,
        "steps": steps,
        "next_steps": workflow_services.next_steps(case, steps, today),
        "follow_ups": followup_queries.case_follow_ups(case),
        **FOLLOW_UP_LABELS,
    }
