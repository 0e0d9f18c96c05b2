"""Scheduled store audits (issue 16): schedules, occurrences, today's checklist, corrective
tasks, webhooks, reports and KPIs."""
