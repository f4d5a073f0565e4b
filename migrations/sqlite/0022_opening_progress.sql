-- How far the decryption of an opening has come (issue 15), written by the process that
-- decrypts with each renewal of its lease, so the opening page shows it whichever process
-- answers. Null while nobody decrypts; the row goes when the opening ends.
alter table opening_share_key add column bids_total integer;
alter table opening_share_key add column bids_opened integer;
