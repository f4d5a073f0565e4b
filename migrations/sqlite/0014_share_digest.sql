-- The digest of each opening-key share, stored when the share is issued at publication
-- (issue 11 item 4). A custodian whose key is held by a passkey opens their share in the
-- browser and posts it; the server cannot open the share itself, so it checks the posted
-- share against this digest: lower-case hex of SHA-256("sunbid/v1/share-digest/" ‖ tender id
-- ‖ 0x00 ‖ the 33 share bytes) (docs/seal-format.md). A share is 256 random bits plus its
-- index, so the digest gives nothing away. Null for shares issued before this column.
alter table tender_key_share add column share_sha256 text;
