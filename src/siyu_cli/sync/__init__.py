"""WeCom as the source of truth: ``siyu sync wecom`` pulls contacts, groups and tags in; ``siyu tags sync`` pushes
segments out as corp tags.

Modules: wecom.py (the resumable pull and its merge into the store), linking.py (customers → members through
identity resolution), merge.py (staging → store, contact events), units.py (the merge's units of customers: one
transaction each, so its memory stays bounded), activity.py (guide and group
statistics per day), tags.py (segment/audience → corp tags with a ledger). The pipeline steps `sync` and `tags`
live in runner/wecom_steps.py; writes to the people tables (members, member_tags, staff, load_log) go through
ingest/people.py, their owner.
"""
