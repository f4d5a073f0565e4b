-- Per-tender secret used to pseudonymise bidders in the public audit log (tender/service.rs).
-- 招标投标法 第22条: who obtained the documents must not be disclosed, and the asker of a
-- question is never shown to others; the audit log is public, so bidder actions there carry
-- HMAC-SHA256(pseudonym_salt, user_id) instead of the user id. Hex, 32 random bytes; never
-- returned by any API. NULL only for rows created before this migration (then the tender id
-- is used, which is weaker; see service.rs).
alter table tender add column pseudonym_salt text;
