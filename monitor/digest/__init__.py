"""Weekly e-mail digests per district unit (issue 6).

Why a package: the digest has separate jobs, tested on their own: the ISO week (week.py), the
Elasticsearch queries (query.py), the charts (charts.py), the Jinja2 rendering and MIME message
(compose.py), the sent-digest ledger (ledger.py) and the orchestration (service.py, whose
`send_due_digests` the scheduler calls weekly). `finwatch digest` is in cli.py.
"""
