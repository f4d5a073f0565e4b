-- Entries whose content must stay confidential for a while (招标投标法 第22条: who and how
-- many obtained the documents; later, who bid) are served to the public as their leaf hash
-- only, until this instant (ms since the epoch). NULL: public at once.
alter table audit_event add column withheld_until integer;
