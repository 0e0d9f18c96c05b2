"""Access control: who is asking (people, store phones, integrations, single sign-on) and
what they may see and do.

* :mod:`shelfscan.auth.roles` — roles, scopes, permissions and the :class:`Principal`;
* :mod:`shelfscan.auth.scope` — the one scope filter every store-data query passes through;
* :mod:`shelfscan.auth.models` — the tables (regions, users, grants, sessions, API keys,
  devices, enrolment codes, audit events, login attempts);
* :mod:`shelfscan.auth.service` — the operations the CLI and the API share;
* :mod:`shelfscan.auth.oidc` — OpenID Connect bearer tokens.

Nothing here imports FastAPI; the HTTP dependency lives in :mod:`shelfscan.api.security`.
"""
