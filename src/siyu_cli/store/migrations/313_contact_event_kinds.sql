-- 313 contact events say who ended a relation (issue 14).
-- Owner: siyu_cli.sync.merge (writes); report, plan (SOP anchors) read.
-- `contact_lost` was one kind for "a relation disappeared between two syncs". WeCom lists a relation until the
-- guide removes the customer (del_external_contact), so a disappearance is now `contact_removed`; a customer who
-- deleted the guide (del_follow_user) stays listed one-way and is `contact_deleted` (evidence: a mass send from
-- that guide came back "not a friend"). The SOP anchor and report total `contact_lost` mean either.
UPDATE contact_events SET kind = 'contact_removed' WHERE kind = 'contact_lost';
