-- An entry may also be withheld until its tender reaches a stage ('opening' or 'award')
-- rather than until a fixed instant: an amendment can move the deadline after the entry
-- was written, and audit rows are never updated. Checked at read time against the
-- tender's state.
alter table audit_event add column withheld_stage text;
